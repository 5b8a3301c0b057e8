# syntax=docker/dockerfile:1.7
#
# One image for the whole platform: every service and the gateway are in it, and the command picks
# which one runs (`python -m identity`, `python -m billing migrate`, ...). The Helm chart sets the command
# per Deployment. Build from the repository root:
#
#   docker build -t registry.example.com/portal/portal:0.1.0 .
#
# Runs as uid/gid 10001 with a read-only root filesystem: nothing is written outside /tmp (bytecode is
# compiled at build time; PYTHONDONTWRITEBYTECODE keeps Python from trying at run time).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# What the image runs: the five services and the gateway (with servicekit and portal-protos, which they
# depend on). The local runner (portal-local: NATS and SMTP stand-ins, demo data) is not installed, nor is
# anything only it needs.
ARG PACKAGES="--package identity --package tickets --package billing --package assets --package remote --package gateway"

# Third-party dependencies first, from the lockfile alone: this layer is rebuilt only when uv.lock or
# the root pyproject.toml change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-install-workspace ${PACKAGES}

# Then the workspace itself. Building portal-protos runs hatch-protobuf, which generates the *_pb2
# modules into protos/src (they are never committed). --no-cache makes sure that build really runs: a
# wheel cached from an earlier build would skip the generator and leave the modules missing. The
# sandbox card processor (test mode only; billing refuses it with BILLING_ENV=prod) and the local
# runner's sources are deleted, and the check proves they are gone.
COPY . /app
RUN uv sync --frozen --no-dev --no-cache ${PACKAGES} \
 && rm -rf deploy/local services/billing/src/billing/payments/sandbox.py \
 && python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        protos/src libs services gateway \
 && /app/.venv/bin/python -c "import portal.identity.v1.identity_pb2, portal.billing.v1.billing_pb2, \
identity, tickets, billing, assets, remote, gateway, billing.main, importlib.util as u; \
assert u.find_spec('portal_local') is None and u.find_spec('billing.payments.sandbox') is None"

# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin portal

# Owned by root and only readable by the service user: the code cannot be changed at run time.
COPY --from=build /app /app

ENV PATH=/app/.venv/bin:$PATH \
    VIRTUAL_ENV=/app/.venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /app
USER 10001:10001

# gateway HTTP, the five gRPC services, metrics (as set in Kubernetes).
EXPOSE 8000 50051 50052 50053 50054 50055 9090

ENTRYPOINT ["python", "-m"]
CMD ["gateway"]
