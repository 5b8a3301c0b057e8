"""Static checks of the Dockerfile (no Docker engine here to build it) and its agreement with the chart:
two stages built with uv from the lockfile, a non-root user whose uid the chart runs as, one image whose
command picks the service, and a build context without local state."""

from __future__ import annotations

import re

import yaml

from tests.deploy.chart import CHART, REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_two_stage_uv_build_from_the_lockfile():
    steps = instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert any(" AS build" in s for s in stages) and any(" AS runtime" in s for s in stages)
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "uv sync --frozen --no-dev --no-install-workspace" in runs
    assert "uv sync --frozen --no-dev" in runs
    runtime = steps[[i for i, (w, a) in enumerate(steps) if w == "FROM" and " AS runtime" in a][0] :]
    assert not any("uv " in args for word, args in runtime if word == "RUN"), "no uv in the runtime stage"
    assert ("COPY", "--from=build /app /app") in runtime


def test_runs_as_the_non_root_user_the_chart_expects():
    users = [args for word, args in instructions() if word == "USER"]
    uid, gid = users[-1].split(":")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert int(uid) == values["securityContext"]["runAsUser"] != 0
    assert int(gid) == values["securityContext"]["runAsGroup"]


def test_read_only_root_friendly():
    env = " ".join(args for word, args in instructions() if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env and "TMPDIR=/tmp" in env


def test_one_image_the_command_picks_the_service():
    steps = dict((w, a) for w, a in instructions() if w in {"ENTRYPOINT", "CMD"})
    assert steps["ENTRYPOINT"] == '["python", "-m"]'
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for name, svc in values["services"].items():
        module = svc["module"]
        package = [REPO / "services" / module / "src" / module, REPO / module / "src" / module]
        assert any(p.is_dir() for p in package), f"services.{name}.module {module!r} is no workspace package"


def test_build_context_leaves_out_local_state():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    for entry in (".git", ".venv", "var", "**/__pycache__", "**/*_pb2.py", "tests", "**/tests"):
        assert entry in ignored, entry
    # Workspace members must stay in the context: uv sync needs them all.
    for member in ("protos", "libs", "services", "gateway", "deploy/local"):
        assert member not in ignored


def test_the_image_installs_what_the_chart_runs_and_leaves_out_the_runner_and_the_sandbox():
    steps = instructions()
    [packages] = [a.removeprefix("PACKAGES=").strip('"') for w, a in steps if w == "ARG" and a.startswith("PACKAGES=")]
    installed = set(re.findall(r"--package ([\w-]+)", packages))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert installed == {svc["module"] for svc in values["services"].values()}, "exactly the chart's workloads"
    assert "portal-local" not in installed
    syncs = [a for w, a in steps if w == "RUN" and "uv sync" in a]
    assert len(syncs) == 2 and all("${PACKAGES}" in a for a in syncs), "both uv sync steps install only those"
    build = " ".join(syncs)
    assert "rm -rf deploy/local services/billing/src/billing/payments/sandbox.py" in build
    assert "find_spec('portal_local') is None and u.find_spec('billing.payments.sandbox') is None" in build
