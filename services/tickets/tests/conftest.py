"""Fixtures for the tickets tests: a migrated database (SQLite and PostgreSQL), principal keys and tokens,
the servicer on a real localhost gRPC socket, and a real nats-server.

`db_url` (a fresh empty database, once on SQLite and once on PostgreSQL) and `nats_server` come from the
`portal_testkit` pytest plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from assets.main import MIGRATIONS_DIR as ASSETS_MIGRATIONS
from assets.main import NAME as ASSETS
from assets.main import wire as wire_assets
from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.tickets.v1 import tickets_pb2_grpc
from portal_testkit.migrated import MigratedTemplates
from portal_testkit.services import Keys, Principals, serve_wired
from servicekit.db import Database
from servicekit.grpc_server import GrpcServer
from tickets.config import Settings
from tickets.main import MIGRATIONS, NAME, wire


@pytest_asyncio.fixture
async def db(db_url: str, migrated: MigratedTemplates) -> AsyncIterator[Database]:
    """A fresh database with the tickets migrations applied."""
    await migrated.apply(MIGRATIONS, db_url)
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.generate()


@pytest.fixture(scope="session")
def public_key_file(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keys.write_public_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def principals() -> type[Principals]:
    return Principals


@dataclass
class Assets:
    """The real assets service (its servicer over its own SQLite database) that tickets check sites and assets with."""

    stub: assets_pb2_grpc.AssetsServiceStub
    server: GrpcServer
    keys: Keys

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def site(self, customer_id: str, name: str = "HQ") -> str:
        req = assets_pb2.CreateSiteRequest(customer_id=customer_id, name=name)
        return (await self.stub.CreateSite(req, metadata=self.keys.metadata(Principals.staff()))).site.id

    async def asset(self, customer_id: str, name: str = "Printer", site_id: str = "") -> str:
        req = assets_pb2.CreateAssetRequest(customer_id=customer_id, name=name, site_id=site_id)
        return (await self.stub.CreateAsset(req, metadata=self.keys.metadata(Principals.staff()))).asset.id


@pytest_asyncio.fixture
async def assets(keys: Keys, tmp_path: Path, migrated: MigratedTemplates) -> AsyncIterator[Assets]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'assets.db'}"
    await migrated.apply(ASSETS_MIGRATIONS, url)
    database = Database(url)
    try:
        async with serve_wired(wire_assets, database, keys.verifier, name=ASSETS) as served:
            yield Assets(assets_pb2_grpc.AssetsServiceStub(served.channel), served.server, keys)
    finally:
        await database.dispose()


@dataclass
class Served:
    stub: tickets_pb2_grpc.TicketsServiceStub
    channel: grpc.aio.Channel
    server: GrpcServer
    db: Database
    keys: Keys
    assets: Assets


@pytest_asyncio.fixture
async def served(
    db: Database, keys: Keys, public_key_file: Path, tmp_path: Path, assets: Assets
) -> AsyncIterator[Served]:
    """The service exactly as main.py wires it, on a real localhost socket, checking sites and assets with the
    real assets servicer."""
    settings = Settings(
        database_url=db.url,
        principal_public_key_file=public_key_file,
        grpc_port=0,
        blob_store=(tmp_path / "blobs").as_uri(),
        max_attachment_bytes=100_000,
        assets_addr=assets.address,
    )
    async with serve_wired(wire, db, keys.verifier, name=NAME, settings=settings) as served:
        yield Served(
            tickets_pb2_grpc.TicketsServiceStub(served.channel), served.channel, served.server, db, keys, assets
        )
