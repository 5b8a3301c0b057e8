"""Identity test fixtures: a migrated database per test (SQLite and PostgreSQL through the portal_testkit
`db_url` fixture), a signing key, a small world of customers and users, and the servicer on a real socket."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity.config import Settings
from identity.contacts.service import create_contact
from identity.customers.service import create_customer
from identity.main import MIGRATIONS_DIR, NAME, wire
from identity.sessions.service import SessionPolicy
from identity.sessions.tokens import PrincipalTokens
from identity.users import hashing
from identity.users.service import create_portal_user, create_staff_user
from portal.identity.v1 import identity_pb2_grpc
from portal_testkit.migrated import MigratedTemplates
from portal_testkit.services import serve_wired
from servicekit import app
from servicekit.db import Database
from servicekit.permissions import NON_PORTAL_USER_GROUP
from servicekit.principal import KIND_STAFF, ROLE_ADMIN, ROLE_TECHNICIAN, Principal

STAFF = Principal(kind=KIND_STAFF, subject_id="staff-under-test", staff_role=ROLE_ADMIN)
TECHNICIAN = Principal(kind=KIND_STAFF, subject_id="technician-under-test", staff_role=ROLE_TECHNICIAN)
STAFF_PASSWORD = "staff-pass-0123456789"
ALICE_PASSWORD = "alice-pass-0123456789"
BOB_PASSWORD = "bob-pass-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Tests hash many passwords: argon2id with tiny cost parameters keeps them fast. Production uses OWASP's
    m=19 MiB, t=2, p=1 (test_hashing checks the real hasher's profile and the re-hash of older hashes)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hashing, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
        hashing._dummy_hash.cache_clear()
        yield
    hashing._dummy_hash.cache_clear()


@pytest.fixture
async def db(db_url: str, migrated: MigratedTemplates) -> AsyncIterator[Database]:
    await migrated.apply(MIGRATIONS_DIR, db_url)
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def staff() -> Principal:
    """A staff principal as identity would resolve it."""
    return STAFF


@pytest.fixture
def passwords() -> dict[str, str]:
    return {"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD, "staff": STAFF_PASSWORD}


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def signing_key_file(signing_key: Ed25519PrivateKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "principal.pem"
    path.write_bytes(
        signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


@pytest.fixture
def tokens(signing_key: Ed25519PrivateKey) -> PrincipalTokens:
    return PrincipalTokens(signing_key, 300)


@pytest.fixture
def policy() -> SessionPolicy:
    return SessionPolicy()


@dataclass(frozen=True)
class World:
    """Two customers: A with a contact (Alice) who has a portal user, B with a customer-level portal user (Bob),
    and one staff user."""

    customer_a: str
    customer_b: str
    contact_a: str
    alice: str
    bob: str
    staff: str


@pytest.fixture
async def world(db: Database) -> World:
    async with db.unit_of_work() as s:
        a = await create_customer(
            s, principal=STAFF, business_name="Acme Dental", first_name="", last_name="", email="office@acme.test"
        )
        b = await create_customer(
            s, principal=STAFF, business_name="", first_name="Bea", last_name="Blue", email="bea@blue.test"
        )
        contact = await create_contact(
            s, principal=STAFF, customer_id=a.id, name="Alice Moreno", email="alice@acme.test"
        )
        alice, _ = await create_portal_user(
            s,
            principal=STAFF,
            customer_id=a.id,
            contact_id=contact.id,
            login="Alice@Acme.test",
            email="alice@acme.test",
            password=ALICE_PASSWORD,
        )
        bob, _ = await create_portal_user(
            s,
            principal=STAFF,
            customer_id=b.id,
            contact_id="",
            login="bob.blue",
            email="bea@blue.test",
            password=BOB_PASSWORD,
            group_name=NON_PORTAL_USER_GROUP,
        )
        staff = await create_staff_user(
            s, email="admin@example.test", password=STAFF_PASSWORD, name="Ada Admin", role=ROLE_ADMIN
        )
    return World(customer_a=a.id, customer_b=b.id, contact_a=contact.id, alice=alice.id, bob=bob.id, staff=staff.id)


@pytest.fixture
def settings(db_url: str, signing_key_file: Path) -> Settings:
    return Settings(database_url=db_url, signing_key_file=signing_key_file, portal_url="https://portal.example.test")


@pytest.fixture
async def stub(db: Database, settings: Settings) -> AsyncIterator[identity_pb2_grpc.IdentityServiceStub]:
    """The servicer as main.wire registers it, on a real localhost socket, over the test database (portal_testkit's
    serve_wired). serve_wired runs no background tasks, and sign-in waits for the staff bootstrap, so that one runs
    here first (with no bootstrap email it only says it is done)."""
    wirings: list[app.Wiring] = []

    def wired(rt: app.Runtime) -> app.Wiring:
        wirings.append(wire(rt))
        return wirings[-1]

    verifier = PrincipalTokens(settings.signing_key(), 300).verifier()  # identity's wiring brings its own anyway
    async with serve_wired(wired, db, verifier, name=NAME, settings=settings) as served:
        await wirings[0].background[0]()
        yield identity_pb2_grpc.IdentityServiceStub(served.channel)


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.envelopes.append(envelope)
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free port."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpServer(port=port, inbox=inbox)
    controller.stop()
