"""Wiring only: settings → servicekit's runtime (telemetry, metrics, database, NATS) → the assets and credentials
servicers; `python -m assets rotate-credential-keys` re-wraps credential data keys (credentials.rotation)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc

from assets import customer_data
from assets.config import Settings
from assets.credentials.rotation import rotate_credential_keys
from assets.credentials.rpcs import CredentialsServicer
from assets.documents.grpc_api import SERVICE_NAME as DOCUMENTS
from assets.documents.grpc_api import DocumentsServicer
from assets.events import handlers
from assets.grpc_api import AssetsServicer
from portal.assets.v1 import assets_pb2, assets_pb2_grpc, credentials_pb2, credentials_pb2_grpc
from servicekit import app
from servicekit.blobs import open_store
from servicekit.logs import setup_logging
from servicekit.settings import load_settings

NAME = "assets"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def wire(rt: app.Runtime[Settings]) -> app.Wiring:
    servicer = AssetsServicer(rt.db)
    # Tests that serve only the assets RPCs may pass no settings; documents then use the defaults and the
    # credential RPCs answer FAILED_PRECONDITION.
    settings = rt.settings if rt.settings is not None else Settings.model_construct()
    documents = DocumentsServicer(rt.db, blobs=open_store(settings.blob_store), max_bytes=settings.max_document_bytes)
    credentials = CredentialsServicer(rt.db, rt.settings.credential_keyring() if rt.settings else None)

    def register(server: grpc.aio.Server) -> None:
        assets_pb2_grpc.add_AssetsServiceServicer_to_server(servicer, server)
        documents.add_to_server(server)
        credentials_pb2_grpc.add_CredentialsServiceServicer_to_server(credentials, server)

    wiring = app.Wiring(
        register=register,
        service_names=[
            assets_pb2.DESCRIPTOR.services_by_name["AssetsService"].full_name,
            DOCUMENTS,
            credentials_pb2.DESCRIPTOR.services_by_name["CredentialsService"].full_name,
        ],
        consumers=handlers.consumers(db=rt.db, metrics=rt.metrics),
    )
    return customer_data.include(wiring, rt.db)


def run(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["rotate-credential-keys"]:
        settings = load_settings(Settings)
        setup_logging(NAME, settings.log_level)
        raise SystemExit(asyncio.run(rotate_credential_keys(settings.database_url, settings.credential_keyring())))
    app.main(
        name=NAME,
        settings_factory=lambda: load_settings(Settings),
        migrations_dir=MIGRATIONS_DIR,
        wire=wire,
        argv=argv,
    )
