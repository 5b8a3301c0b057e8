"""Wiring only: settings → servicekit's runtime (telemetry, metrics, database, NATS) → the remote servicer."""

from __future__ import annotations

from pathlib import Path

from portal.remote.v1 import remote_pb2, remote_pb2_grpc
from remote import (
    customer_data,
    metrics,  # noqa: F401 - declares remote's business metrics, so their series exist from the start
)
from remote.config import Settings
from remote.events import handlers
from remote.grpc_api import RemoteServicer
from servicekit import app
from servicekit.settings import load_settings

NAME = "remote"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def wire(rt: app.Runtime[Settings]) -> app.Wiring:
    servicer = RemoteServicer(rt.db)
    wiring = app.Wiring(
        register=lambda server: remote_pb2_grpc.add_RemoteServiceServicer_to_server(servicer, server),
        service_names=[remote_pb2.DESCRIPTOR.services_by_name["RemoteService"].full_name],
        consumers=handlers.consumers(db=rt.db, metrics=rt.metrics),
    )
    return customer_data.include(wiring, rt.db)


def run(argv: list[str] | None = None) -> None:
    app.main(
        name=NAME,
        settings_factory=lambda: load_settings(Settings),
        migrations_dir=MIGRATIONS_DIR,
        wire=wire,
        argv=argv,
    )
