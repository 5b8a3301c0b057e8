"""Remote test fixtures: a migrated database per test (run on SQLite and on PostgreSQL through the
portal_testkit `db_url` fixture), principal tokens from a test signing key, and the servicer on a socket."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from portal.remote.v1 import remote_pb2_grpc
from portal_testkit.services import Keys, serve_wired
from remote.main import MIGRATIONS_DIR, NAME, wire
from remote.script_runs.models import SUCCEEDED, ScriptRun
from servicekit.db import Database
from servicekit.migrations import upgrade
from servicekit.principal import Principal

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    await upgrade(MIGRATIONS_DIR, db_url)
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
def make_run() -> Callable[..., ScriptRun]:
    """A finished script run, each one a minute after the previous unless `started_at` is given. Ids are
    letters and zero-padded digits so that Python's order of them is the database's in any collation."""
    numbers = itertools.count(1001)

    def make(customer_id: str, **fields: object) -> ScriptRun:
        n = next(numbers)
        started = fields.pop("started_at", T0 + timedelta(minutes=n))
        values: dict = {
            "id": f"run{n}",
            "customer_id": customer_id,
            "asset_id": f"asset-of-{customer_id}",
            "script_name": "Clear temp files",
            "status": SUCCEEDED,
            "exit_code": 0,
            "started_at": started,
            "finished_at": started + timedelta(seconds=12),
            "output": "done",
            **fields,
        }
        return ScriptRun(**values)

    return make


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.generate()


@pytest.fixture(scope="session")
def token(keys: Keys) -> Callable[[Principal], str]:
    """`token(principal)`: a principal token as identity would sign it."""
    return keys.token


@pytest.fixture
async def stub(db: Database, keys: Keys) -> AsyncIterator[remote_pb2_grpc.RemoteServiceStub]:
    """The servicer as main.wire registers it, on a real localhost socket, over the test database."""
    async with serve_wired(wire, db, keys.verifier, name=NAME) as served:
        yield remote_pb2_grpc.RemoteServiceStub(served.channel)
