"""`python -m gateway`: settings → logging, tracing, metrics → one uvicorn process serving the app."""

from __future__ import annotations

import logging
import socket

import uvicorn

from gateway.config import Settings
from gateway.edge.metrics import serve_metrics
from gateway.main import create_app, instrument
from servicekit import telemetry
from servicekit.logs import setup_logging
from servicekit.settings import load_settings

log = logging.getLogger("gateway")


def _bind(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket up front so a busy port is one readable line, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"gateway: cannot listen on {host}:{port}: {exc.strerror or exc} (set GATEWAY_HTTP_PORT to another port)"
        ) from None
    sock.set_inheritable(True)
    return sock


def run() -> None:
    settings = load_settings(Settings)
    setup_logging("gateway", settings.log_level)
    sock = _bind(settings.http_host, settings.http_port)
    serve_metrics(settings.metrics_port, settings.metrics_host)
    # Spans nobody exports still cost: measured, the HTTP and gRPC client instrumentation roughly double the
    # gateway's CPU per portal home (four traced gRPC calls). So they are on when traces leave the process.
    tracing = settings.tracing == "on" or (settings.tracing == "auto" and telemetry.traces_exported())
    if tracing:
        telemetry.setup_tracing("gateway")
        # Before the app opens its channels: the instrumentation wraps channel creation.
        telemetry.instrument_grpc_client()
    app = create_app(settings)
    if tracing:
        instrument(app)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # Off: X-Forwarded-For is believed only from GATEWAY_TRUSTED_PROXIES (gateway/edge/proxies.py); uvicorn's
        # own handling would trust any FORWARDED_ALLOW_IPS peer (127.0.0.1 by default) before that check.
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    log.info(
        "gateway listening",
        extra={
            "address": f"http://{settings.http_host}:{sock.getsockname()[1]}",
            "public_url": settings.public_url,
            "tracing": tracing,
        },
    )
    uvicorn.Server(config).run(sockets=[sock])
