"""Remote test fixtures: a migrated database per test (run on SQLite and on PostgreSQL through the
portal_testkit `db_url` fixture), principal tokens from a test signing key, and the servicer on a socket."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.remote.v1 import remote_pb2_grpc
from remote.main import MIGRATIONS_DIR, NAME, wire
from remote.script_runs.models import SUCCEEDED, ScriptRun
from servicekit import app
from servicekit.db import Database
from servicekit.grpc_client import open_channel
from servicekit.grpc_server import start_grpc_server
from servicekit.metrics import kit_metrics
from servicekit.migrations import upgrade
from servicekit.principal import Principal, TokenSigner, TokenVerifier

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
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def token(signing_key: Ed25519PrivateKey) -> Callable[[Principal], str]:
    """`token(principal)`: a principal token as identity would sign it."""
    signer = TokenSigner(signing_key)
    return lambda principal: signer.sign(principal)[0]


@pytest.fixture
async def stub(db: Database, signing_key: Ed25519PrivateKey) -> AsyncIterator[remote_pb2_grpc.RemoteServiceStub]:
    """The servicer as main.wire registers it, on a real localhost socket, over the test database."""
    metrics = kit_metrics(NAME)
    wiring = wire(app.Runtime(name=NAME, settings=None, db=db, nats=None, metrics=metrics))  # type: ignore[arg-type]
    server = await start_grpc_server(
        address="127.0.0.1:0",
        register=wiring.register,
        service_names=wiring.service_names,
        verifier=TokenVerifier([signing_key.public_key()]),
        public_methods=wiring.public_methods,
        metrics=metrics,
    )
    channel = open_channel(f"127.0.0.1:{server.port}")
    yield remote_pb2_grpc.RemoteServiceStub(channel)
    await channel.close()
    await server.stop(0)
