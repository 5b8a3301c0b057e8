"""`python -m gateway`: settings → logging, tracing, metrics → one uvicorn process serving the app."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import shutil
import socket
import tempfile
from typing import TYPE_CHECKING

import uvicorn

from gateway.config import Settings
from servicekit.logs import setup_logging
from servicekit.settings import load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("gateway")
# prometheus_client's multiprocess mode (GATEWAY_WORKERS > 1): each worker writes its metrics to files here and the
# supervisor serves their sum. It must be set before prometheus_client is first imported, hence the late imports.
_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


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


def _tracing(settings: Settings) -> bool:
    from servicekit import telemetry

    # Spans nobody exports still cost: measured, the HTTP and gRPC client instrumentation roughly double the
    # gateway's CPU per portal home (four traced gRPC calls). So they are on when traces leave the process.
    tracing = settings.tracing == "on" or (settings.tracing == "auto" and telemetry.traces_exported())
    if tracing:
        telemetry.setup_tracing("gateway")
        # Before the app opens its channels: the instrumentation wraps channel creation.
        telemetry.instrument_grpc_client()
    return tracing


def _app(settings: Settings, tracing: bool) -> FastAPI:
    from gateway.main import create_app, instrument

    app = create_app(settings)
    if tracing:
        instrument(app)
    return app


def freeze_what_start_made() -> None:
    """Move every object the process holds now out of the garbage collector's sight, for good.

    Why: a full collection (generation 2) stops every request in flight while it walks every object the process
    holds, and most of them are the modules, routes and templates loaded at start, which live as long as the process
    anyway. Measured with bench/portal_home.py --writes 0 (the home's views alone, 64 connections), a full collection
    took about 90 ms before and about 25 ms after (portal_gateway_gc_pause_seconds). What becomes garbage later is
    still collected."""
    gc.collect()
    gc.freeze()


def worker_app() -> FastAPI:
    """The app of one worker process when GATEWAY_WORKERS > 1 (uvicorn imports this factory in each worker)."""
    settings = load_settings(Settings)
    setup_logging("gateway", settings.log_level)
    app = _app(settings, _tracing(settings))
    if settings.gc_freeze:
        freeze_what_start_made()
    return app


def run() -> None:
    settings = load_settings(Settings)
    setup_logging("gateway", settings.log_level)
    sock = _bind(settings.http_host, settings.http_port)
    workers = settings.workers
    if workers > 1:
        os.environ[_MULTIPROC_DIR] = tempfile.mkdtemp(prefix="gateway-metrics-")
        atexit.register(shutil.rmtree, os.environ[_MULTIPROC_DIR], ignore_errors=True)
    from gateway.edge.metrics import serve_metrics

    serve_metrics(settings.metrics_port, settings.metrics_host, multiprocess=workers > 1)
    common = {
        "loop": settings.loop,
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "server_header": False,
        # Off: X-Forwarded-For is believed only from GATEWAY_TRUSTED_PROXIES (gateway/edge/proxies.py); uvicorn's
        # own handling would trust any FORWARDED_ALLOW_IPS peer (127.0.0.1 by default) before that check.
        "proxy_headers": False,
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": settings.keep_alive_seconds,
    }
    if workers > 1:
        # Each worker is like a replica: its own channels, principal cache and session-event subscription.
        config = uvicorn.Config("gateway.server:worker_app", factory=True, workers=workers, **common)
        tracing = settings.tracing == "on"
    else:
        tracing = _tracing(settings)
        config = uvicorn.Config(_app(settings, tracing), **common)
        if settings.gc_freeze:
            freeze_what_start_made()
    log.info(
        "gateway listening",
        extra={
            "address": f"http://{settings.http_host}:{sock.getsockname()[1]}",
            "public_url": settings.public_url,
            "tracing": tracing,
            "workers": workers,
            "loop": settings.loop,
        },
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        # Spawns the workers (each runs worker_app) and restarts one that dies.
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
