"""Assets test fixtures: a migrated database per test (run on SQLite and on PostgreSQL through the
portal_testkit `db_url` fixture), principal tokens from a test signing key, and the servicer on a socket."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from assets.assets.models import Asset
from assets.main import MIGRATIONS_DIR, NAME, wire
from portal.assets.v1 import assets_pb2_grpc
from portal_testkit.migrated import MigratedTemplates
from portal_testkit.services import Keys, serve_wired
from servicekit.db import Database
from servicekit.principal import Principal


@pytest.fixture
async def db(db_url: str, migrated: MigratedTemplates) -> AsyncIterator[Database]:
    await migrated.apply(MIGRATIONS_DIR, db_url)
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def seed(db: Database) -> Callable:
    """`await seed(*rows)`: insert model instances in one committed unit of work."""

    async def add(*rows: object) -> None:
        async with db.unit_of_work() as s:
            s.add_all(rows)

    return add


@pytest.fixture
def make_asset() -> Callable[..., Asset]:
    """An asset with sensible defaults. Ids are letters and zero-padded digits so that Python's order of
    them is the database's in any collation."""
    numbers = itertools.count(1001)

    def make(customer_id: str, **fields: object) -> Asset:
        n = next(numbers)
        values: dict = {"id": f"ast{n}", "customer_id": customer_id, "name": f"device {n}", **fields}
        return Asset(**values)

    return make


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.generate()


@pytest.fixture(scope="session")
def token(keys: Keys) -> Callable[[Principal], str]:
    """`token(principal)`: a principal token as identity would sign it."""
    return keys.token


@pytest.fixture
async def stub(db: Database, keys: Keys) -> AsyncIterator[assets_pb2_grpc.AssetsServiceStub]:
    """The servicer as main.wire registers it, on a real localhost socket, over the test database."""
    async with serve_wired(wire, db, keys.verifier, name=NAME) as served:
        yield assets_pb2_grpc.AssetsServiceStub(served.channel)
