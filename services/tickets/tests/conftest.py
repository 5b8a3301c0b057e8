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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.tickets.v1 import tickets_pb2_grpc
from servicekit import migrations
from servicekit.app import Runtime
from servicekit.db import Database
from servicekit.grpc_server import GrpcServer, start_grpc_server
from servicekit.metrics import kit_metrics
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal, TokenSigner, TokenVerifier
from tickets.config import Settings
from tickets.main import MIGRATIONS, NAME, wire


@pytest_asyncio.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A fresh database with the tickets migrations applied."""
    await migrations.upgrade(MIGRATIONS, db_url)
    database = Database(db_url)
    yield database
    await database.dispose()


@dataclass(frozen=True)
class Keys:
    signer: TokenSigner
    verifier: TokenVerifier
    public_pem: bytes

    def token(self, principal: Principal) -> str:
        return self.signer.sign(principal)[0]

    def metadata(self, principal: Principal) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(principal)}"),)


@pytest.fixture(scope="session")
def keys() -> Keys:
    private = Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Keys(signer=TokenSigner(private), verifier=TokenVerifier([private.public_key()]), public_pem=public_pem)


@pytest.fixture(scope="session")
def public_key_file(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "principal.pub.pem"
    path.write_bytes(keys.public_pem)
    return path


class Principals:
    """Builders of the callers the tests use."""

    @staticmethod
    def portal(
        customer_id: str,
        contact_id: str = "",
        *,
        permissions: set[str],
        subject_id: str = "",
        customer_ids: tuple[str, ...] = (),
    ) -> Principal:
        return Principal(
            kind=KIND_PORTAL_USER,
            subject_id=subject_id or f"user-{contact_id or customer_id}",
            customer_id=customer_id,
            contact_id=contact_id,
            permissions=frozenset(permissions),
            customer_ids=customer_ids,
        )

    @staticmethod
    def staff(subject_id: str = "staff-1") -> Principal:
        return Principal(kind=KIND_STAFF, subject_id=subject_id)


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
async def assets(keys: Keys, tmp_path: Path) -> AsyncIterator[Assets]:
    from assets.main import MIGRATIONS_DIR as ASSETS_MIGRATIONS
    from assets.main import NAME as ASSETS
    from assets.main import wire as wire_assets

    url = f"sqlite+aiosqlite:///{tmp_path / 'assets.db'}"
    await migrations.upgrade(ASSETS_MIGRATIONS, url)
    database = Database(url)
    wiring = wire_assets(Runtime(name=ASSETS, settings=None, db=database, nats=None, metrics=kit_metrics(ASSETS)))  # type: ignore[arg-type]
    server = await start_grpc_server(
        address="127.0.0.1:0",
        register=wiring.register,
        service_names=wiring.service_names,
        verifier=keys.verifier,
        public_methods=wiring.public_methods,
        metrics=kit_metrics(ASSETS),
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Assets(assets_pb2_grpc.AssetsServiceStub(channel), server, keys)
    finally:
        await channel.close()
        await server.stop(0)
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
        blob_dir=tmp_path / "blobs",
        max_attachment_bytes=100_000,
        assets_addr=assets.address,
    )
    wiring = wire(Runtime(name=NAME, settings=settings, db=db, nats=None, metrics=kit_metrics(NAME)))  # type: ignore[arg-type]
    server = await start_grpc_server(
        address="127.0.0.1:0",
        register=wiring.register,
        service_names=wiring.service_names,
        verifier=wiring.verifier or keys.verifier,
        public_methods=wiring.public_methods,
        metrics=kit_metrics(NAME),
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Served(tickets_pb2_grpc.TicketsServiceStub(channel), channel, server, db, keys, assets)
    finally:
        await channel.close()
        await server.stop(0)
