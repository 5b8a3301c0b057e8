"""Wiring only: settings → servicekit's runtime (telemetry, database, NATS, gRPC server) → the tickets servicer."""

from __future__ import annotations

import sys
from pathlib import Path

import grpc

from portal.tickets.v1 import tickets_pb2_grpc
from servicekit import app
from servicekit.blobs import open_store
from servicekit.grpc_client import open_channel
from servicekit.logs import setup_logging
from servicekit.settings import load_settings
from tickets import customer_data, metrics
from tickets.attachments import migrate
from tickets.config import Settings
from tickets.events import handlers
from tickets.grpc_api import SERVICE_NAME, TicketsServicer
from tickets.knowledge.grpc_api import SERVICE_NAME as KNOWLEDGE
from tickets.knowledge.grpc_api import KnowledgeServicer
from tickets.tickets.refs import RefChecker

NAME = "tickets"
MIGRATIONS = Path(__file__).parent / "migrations"


def wire(rt: app.Runtime[Settings]) -> app.Wiring:
    settings = rt.settings
    servicer = TicketsServicer(
        rt.db,
        blobs=open_store(settings.blob_store),
        max_attachment_bytes=settings.max_attachment_bytes,
        default_assignee=settings.default_assignee,
        operator_name=settings.operator_name,
        refs=RefChecker(open_channel(settings.assets_addr), timeout=settings.assets_timeout_seconds),
    )
    rt.db.on_commit(metrics.OPENED_SIGNAL, metrics.OPENED.inc)
    knowledge = KnowledgeServicer(rt.db)

    def register(server: grpc.aio.Server) -> None:
        tickets_pb2_grpc.add_TicketsServiceServicer_to_server(servicer, server)
        knowledge.add_to_server(server)

    # No public methods: every tickets call needs a principal token.
    wiring = app.Wiring(
        register=register,
        service_names=[SERVICE_NAME, KNOWLEDGE],
        consumers=handlers.consumers(db=rt.db, metrics=rt.metrics, default_assignee=settings.default_assignee),
    )
    return customer_data.include(wiring, rt.db)


def run(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["blobs-migrate"]:  # the one-off copy of attachment files to a new store
        settings = load_settings(Settings)
        setup_logging(NAME, settings.log_level)
        migrate.command(args[1:], database_url=settings.database_url, target_url=settings.blob_store)
        return
    app.main(
        name=NAME, settings_factory=lambda: load_settings(Settings), migrations_dir=MIGRATIONS, wire=wire, argv=argv
    )
