"""Wiring only: settings → servicekit's runtime (telemetry, metrics, database, NATS) → the remote servicer, and
beside it the agents' own gRPC server (AgentService only, no principal tokens) and the sweeper."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from portal.remote.v1 import agent_pb2_grpc, remote_pb2, remote_pb2_grpc
from remote import (
    customer_data,
    metrics,  # noqa: F401 - declares remote's business metrics, so their series exist from the start
)
from remote.agent_api import AgentServicer
from remote.assets_client import AssetsClient
from remote.broker.routing import Broker
from remote.broker.signing import CommandSigner, load_command_key
from remote.config import Settings
from remote.events import handlers
from remote.grpc_api import Limits, RemoteServicer
from remote.script_runs import service as script_runs
from remote.sessions import service as sessions
from servicekit import app
from servicekit.db import Database
from servicekit.grpc_client import open_channel
from servicekit.grpc_server import MAX_MESSAGE_BYTES
from servicekit.settings import load_settings

log = logging.getLogger(__name__)

NAME = "remote"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def wire(rt: app.Runtime[Settings]) -> app.Wiring:
    settings = rt.settings
    limits = (
        Limits(settings.heartbeat_seconds, settings.max_output_bytes, settings.session_max_minutes)
        if settings
        else Limits()
    )
    signer = CommandSigner(load_command_key(settings.command_key_file if settings else None, env=_env(settings)))
    broker = Broker(rt.nats, signer) if rt.nats is not None else None
    assets = (
        AssetsClient(open_channel(settings.assets_address), timeout=settings.assets_timeout_seconds)
        if settings
        else None
    )
    servicer = RemoteServicer(rt.db, assets=assets, broker=broker, limits=limits)
    background: list[Callable[[], Awaitable[None]]] = []
    if settings is not None and rt.nats is not None:
        agent_servicer = AgentServicer(
            rt.db,
            rt.nats,
            signer,
            replica_id=settings.replica_id,
            heartbeat_seconds=settings.heartbeat_seconds,
            max_output_bytes=settings.max_output_bytes,
        )
        background += [
            lambda: serve_agents(agent_servicer, settings),
            lambda: sweep(rt.db, settings.sweep_interval_seconds),
        ]
    wiring = app.Wiring(
        register=lambda server: remote_pb2_grpc.add_RemoteServiceServicer_to_server(servicer, server),
        service_names=[remote_pb2.DESCRIPTOR.services_by_name["RemoteService"].full_name],
        consumers=handlers.consumers(db=rt.db, metrics=rt.metrics),
        background=background,
    )
    return customer_data.include(wiring, rt.db)


def _env(settings: Settings | None) -> str:
    return settings.env if settings is not None else "dev"


async def start_agent_server(servicer: AgentServicer, settings: Settings) -> tuple[grpc.aio.Server, int]:
    """The agents' server: AgentService alone, TLS when the certificate and key are set."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
            # Agents hold one stream for hours: keepalive pings find dead peers, and pings are allowed.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ]
    )
    agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    address = settings.agent_address
    try:
        if settings.agent_tls_cert_file and settings.agent_tls_key_file:
            creds = grpc.ssl_server_credentials(
                [(settings.agent_tls_key_file.read_bytes(), settings.agent_tls_cert_file.read_bytes())]
            )
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
    except (RuntimeError, OSError) as exc:
        raise SystemExit(f"cannot listen for agents on {address}: {exc.__class__.__name__}") from exc
    if port == 0:
        raise SystemExit(f"cannot listen for agents on {address}: the port is busy")
    await server.start()
    return server, port


async def serve_agents(servicer: AgentServicer, settings: Settings) -> None:
    server, port = await start_agent_server(servicer, settings)
    tls = "TLS" if settings.agent_tls_cert_file and settings.agent_tls_key_file else "plaintext"
    log.info("remote serving agents on %s:%d (%s), replica %s", settings.agent_host, port, tls, settings.replica_id)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop(1)


async def sweep(db: Database, interval: float) -> None:
    """Runs stuck past their timeout and sessions past their limit (a dead replica's leftovers) are ended."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with db.unit_of_work() as s:
                failed = await script_runs.sweep_stuck(s)
                ended = await sessions.sweep_past_limit(s)
            if failed or ended:
                log.info("sweeper: %d runs failed, %d sessions ended", len(failed), len(ended))
        except Exception:
            log.exception("sweeper pass failed")


def run(argv: list[str] | None = None) -> None:
    app.main(
        name=NAME,
        settings_factory=lambda: load_settings(Settings),
        migrations_dir=MIGRATIONS_DIR,
        wire=wire,
        argv=argv,
    )
