"""Remote test fixtures: a migrated database per test (run on SQLite and on PostgreSQL through the
portal_testkit `db_url` fixture), principal tokens from a test signing key, and the servicer on a socket; for the
agent tests, the real assets servicer and remote replicas with their agents' server and a real nats-server
(the Replica and TestAgent below)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assets.main import MIGRATIONS_DIR as ASSETS_MIGRATIONS
from assets.main import NAME as ASSETS
from assets.main import wire as wire_assets
from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.remote.v1 import agent_pb2, agent_pb2_grpc, remote_pb2_grpc
from portal_local.ports import free_port
from portal_testkit.migrated import MigratedTemplates
from portal_testkit.services import Keys, Principals, serve_wired
from remote.broker.signing import AUTH_PREFIX, COMMAND_PREFIX, private_pem
from remote.config import Settings
from remote.main import MIGRATIONS_DIR, NAME, wire
from remote.script_runs.models import SUCCEEDED, ScriptRun
from servicekit import events
from servicekit.app import Runtime
from servicekit.db import Database
from servicekit.grpc_client import open_channel
from servicekit.grpc_server import GrpcServer, start_grpc_server
from servicekit.metrics import kit_metrics
from servicekit.principal import Principal

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def write_command_key(directory: Path) -> Path:
    path = directory / "command.key.pem"
    path.write_bytes(private_pem(Ed25519PrivateKey.generate()))
    return path


@dataclass
class Replica:
    settings: Settings
    server: GrpcServer
    channel: grpc.aio.Channel
    tasks: list[asyncio.Task]
    nc: object

    @property
    def stub(self) -> remote_pb2_grpc.RemoteServiceStub:
        return remote_pb2_grpc.RemoteServiceStub(self.channel)

    @property
    def agent_address(self) -> str:
        return f"127.0.0.1:{self.settings.agent_port}"

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.channel.close()
        await self.server.stop(0)
        await self.nc.close()  # type: ignore[attr-defined]


async def start_replica(
    db: Database, keys: Keys, key_dir: Path, *, nats_url: str, assets_address: str, replica_id: str, **overrides
) -> Replica:
    settings = Settings(
        database_url=db.url,
        principal_public_key_file=keys.write_public_key(key_dir),
        grpc_port=0,
        agent_port=free_port(),
        command_key_file=key_dir / "command.key.pem",
        replica_id=replica_id,
        assets_address=assets_address,
        nats_url=nats_url,
        **overrides,
    )
    nc = await events.connect(nats_url, f"{NAME}-{replica_id}")
    metrics = kit_metrics(NAME)
    wiring = wire(Runtime(name=NAME, settings=settings, db=db, nats=nc, metrics=metrics))
    server = await start_grpc_server(
        address="127.0.0.1:0",
        register=wiring.register,
        service_names=wiring.service_names,
        verifier=keys.verifier,
        metrics=metrics,
    )
    tasks = [asyncio.create_task(job()) for job in wiring.background]
    channel = open_channel(f"127.0.0.1:{server.port}")
    # The agents' server is up once it accepts a connection.
    for _ in range(100):
        with contextlib.suppress(OSError):
            _r, w = await asyncio.open_connection("127.0.0.1", settings.agent_port)
            w.close()
            break
        await asyncio.sleep(0.05)
    return Replica(settings, server, channel, tasks, nc)


@dataclass
class TestAgent:
    """An agent as portal-agent behaves: its own key, enrolment, the challenge proof, then commands checked against
    the broker's command key. `async on_command(agent, command)` answers each verified command (in a task)."""

    __test__ = False

    address: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    agent_id: str = ""
    command_key: bytes = b""
    commands: list[agent_pb2.Command] = field(default_factory=list)
    bad_signatures: int = 0
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    on_command: Callable | None = None
    call: object = None
    channel: grpc.aio.Channel | None = None
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    got_command: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def stub(self) -> agent_pb2_grpc.AgentServiceStub:
        if self.channel is None:
            self.channel = grpc.aio.insecure_channel(self.address)
        return agent_pb2_grpc.AgentServiceStub(self.channel)

    async def enrol(self, token: str) -> agent_pb2.EnrolResponse:
        reply = await self.stub().Enrol(
            agent_pb2.EnrolRequest(
                token=token, public_key=self.public_key, hostname="pc-1", os="linux", agent_version="test"
            ),
            timeout=5,
        )
        self.agent_id, self.command_key = reply.agent_id, reply.command_public_key
        return reply

    def verify(self, signed: agent_pb2.SignedCommand) -> agent_pb2.Command | None:
        try:
            Ed25519PublicKey.from_public_bytes(self.command_key).verify(signed.signature, COMMAND_PREFIX + signed.body)
        except Exception:
            self.bad_signatures += 1
            return None
        return agent_pb2.Command.FromString(signed.body)

    async def connect(self, *, sign_with: Ed25519PrivateKey | None = None) -> None:
        """Hello, Challenge, Proof, Welcome; raises the call's error when refused."""
        self.call = self.stub().Connect()
        await self.call.write(agent_pb2.ConnectRequest(hello=agent_pb2.Hello(agent_id=self.agent_id, hostname="pc-1")))
        challenge = await self.call.read()
        if challenge is grpc.aio.EOF:
            await self.call  # raises the status
        signer = sign_with or self.key
        proof = signer.sign(AUTH_PREFIX + self.agent_id.encode() + b"\n" + challenge.challenge.nonce)
        await self.call.write(agent_pb2.ConnectRequest(proof=agent_pb2.Proof(signature=proof)))
        welcome = await self.call.read()
        if welcome is grpc.aio.EOF:
            await self.call
        assert welcome.WhichOneof("kind") == "welcome"
        self.welcomed.set()

    async def serve(self) -> grpc.StatusCode:
        """Read commands until the stream ends; the status it ended with."""
        try:
            while True:
                msg = await self.call.read()
                if msg is grpc.aio.EOF:
                    break
                command = self.verify(msg.command)
                if command is None:
                    continue
                self.commands.append(command)
                self.got_command.set()
                if self.on_command is not None:
                    # In a task of its own, as the real agent runs a script while it keeps reading commands.
                    self.tasks.append(asyncio.create_task(self.on_command(self, command)))
        except grpc.aio.AioRpcError as err:
            return err.code()
        return await self.call.code()

    async def send(self, report: agent_pb2.ConnectRequest) -> None:
        await self.call.write(report)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        if self.call is not None:
            self.call.cancel()
        if self.channel is not None:
            await self.channel.close()
            self.channel = None


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


@dataclass
class Assets:
    """The real assets service (its servicer over its own SQLite database): remote's GetAsset calls go here."""

    stub: assets_pb2_grpc.AssetsServiceStub
    address: str
    keys: Keys

    async def asset(self, customer_id: str, name: str = "Laptop", contact_id: str = "") -> str:
        req = assets_pb2.CreateAssetRequest(customer_id=customer_id, name=name, contact_id=contact_id)
        return (await self.stub.CreateAsset(req, metadata=self.keys.metadata(Principals.staff()))).asset.id


@pytest_asyncio.fixture
async def assets(keys: Keys, tmp_path: Path, migrated: MigratedTemplates) -> AsyncIterator[Assets]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'assets.db'}"
    await migrated.apply(ASSETS_MIGRATIONS, url)
    database = Database(url)
    try:
        async with serve_wired(wire_assets, database, keys.verifier, name=ASSETS) as served:
            yield Assets(assets_pb2_grpc.AssetsServiceStub(served.channel), served.address, keys)
    finally:
        await database.dispose()


@pytest_asyncio.fixture
async def sqlite_db(db: Database) -> Database:
    """The database the test's replicas share: the `db` fixture (each test runs on SQLite and on PostgreSQL)."""
    return db


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir()
    write_command_key(directory)
    return directory


@pytest_asyncio.fixture
async def replica(
    sqlite_db: Database, keys: Keys, key_dir: Path, nats_server, assets: Assets
) -> AsyncIterator[Replica]:
    r = await start_replica(
        sqlite_db,
        keys,
        key_dir,
        nats_url=nats_server.url,
        assets_address=assets.address,
        replica_id="replica-a",
        max_output_bytes=8192,
    )
    yield r
    await r.stop()


@pytest_asyncio.fixture
async def make_agent() -> AsyncIterator[Callable[[Replica], TestAgent]]:
    """`make_agent(replica)`: a TestAgent speaking to that replica's agents' server; closed after the test."""
    made: list[TestAgent] = []

    def make(replica: Replica) -> TestAgent:
        agent = TestAgent(replica.agent_address)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        await agent.close()


@pytest.fixture
def spawn_replica() -> Callable:
    """`await spawn_replica(db, keys, key_dir, replica_id=..., nats_url=..., assets_address=...)`: a Replica; the
    test stops it."""
    return start_replica
