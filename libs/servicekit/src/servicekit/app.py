"""A service's life: settings → logging and telemetry → metrics port → database → NATS → gRPC server,
then a graceful stop on SIGTERM/SIGINT. Each service's main.py only says what to plug in."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import grpc
from nats.aio.client import Client as NatsClient

from servicekit import events, migrations, retention, telemetry
from servicekit.db import Database, wait_for_database
from servicekit.grpc_server import start_grpc_server
from servicekit.logs import setup_logging
from servicekit.metrics import KitMetrics, kit_metrics, serve_metrics
from servicekit.principal import TokenVerifier, load_public_keys
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class Runtime(Generic[SettingsT]):
    """What the service's wiring receives to build its servicers and consumers; `Runtime[Settings]` gives
    `wire` its own settings class, typed, without a cast."""

    name: str
    settings: SettingsT
    db: Database
    nats: NatsClient
    metrics: KitMetrics


@dataclass
class Wiring:
    register: Callable[[grpc.aio.Server], None]
    service_names: list[str]
    public_methods: list[str] = field(default_factory=list)
    consumers: list[events.Consumer] = field(default_factory=list)
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Identity signs tokens itself and verifies them with its own public key.
    verifier: TokenVerifier | None = None


def verifier_from_settings(settings: ServiceSettings) -> TokenVerifier:
    return TokenVerifier(load_public_keys(settings.principal_public_key_pem()))


async def serve(
    *,
    name: str,
    settings: ServiceSettings,
    migrations_dir: Path,
    wire: Callable[[Runtime], Wiring],
    stop_event: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or `stop_event`), then drain and stop."""
    tracing = telemetry.traces_exported()
    telemetry.setup_tracing(name)
    if tracing:
        telemetry.instrument_grpc_server()
        telemetry.instrument_grpc_client()
    metrics = kit_metrics(name)
    serve_metrics(settings.metrics_port, settings.metrics_host)

    db = Database(settings.database_url)
    if tracing:
        telemetry.instrument_engine(db.engine)
    await wait_for_database(db)
    await migrations.upgrade_in_child(migrations_dir, settings.database_url, service=name, log_level=settings.log_level)

    nc = await events.connect(settings.nats_url, name)
    await events.ensure_stream(nc)
    runtime = Runtime(name=name, settings=settings, db=db, nats=nc, metrics=metrics)
    wiring = wire(runtime)
    verifier = wiring.verifier or verifier_from_settings(settings)

    server = await start_grpc_server(
        address=settings.grpc_address,
        register=wiring.register,
        service_names=wiring.service_names,
        verifier=verifier,
        public_methods=wiring.public_methods,
        metrics=metrics,
    )
    relay = events.OutboxRelay(db, nc, metrics)
    for consumer in wiring.consumers:
        consumer.max_deliver = settings.events_max_deliver
    pruner = retention.Retention.from_settings(db, settings, metrics)
    tasks = [asyncio.create_task(relay.run(), name="outbox-relay")]
    tasks.append(asyncio.create_task(pruner.run(), name="retention"))
    tasks += [asyncio.create_task(c.run(nc), name=f"consumer-{c.name}") for c in wiring.consumers]
    tasks += [asyncio.create_task(job(), name="background") for job in wiring.background]
    log.info("%s serving gRPC on %s", name, settings.grpc_address)

    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("%s stopping", name)
    await server.stop(settings.shutdown_grace_seconds)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # One last pass so events committed by the final in-flight calls are not left for the next start.
    try:
        await asyncio.wait_for(relay.publish_pending(), timeout=2)
    except Exception as exc:
        log.info("unsent events stay in the outbox for the next start (%s)", exc.__class__.__name__)
    await nc.close()
    await db.dispose()
    telemetry.shutdown_tracing()


def main(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    migrations_dir: Path,
    wire: Callable[[Runtime], Wiring],
    argv: list[str] | None = None,
) -> None:
    """`python -m <svc>` serves; `python -m <svc> migrate` applies migrations and exits."""
    args = sys.argv[1:] if argv is None else argv
    settings = settings_factory()
    setup_logging(name, settings.log_level)
    if args[:1] == ["migrate"]:
        asyncio.run(migrations.upgrade(migrations_dir, settings.database_url))
        log.info("%s migrations applied", name)
        return
    if args:
        raise SystemExit(f"usage: python -m {name} [migrate]")
    asyncio.run(serve(name=name, settings=settings, migrations_dir=migrations_dir, wire=wire))
