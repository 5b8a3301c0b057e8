"""Billing test fixtures: a migrated database per test (run on SQLite and on PostgreSQL through the
portal_testkit `db_url` fixture), principal tokens from a test signing key, and the servicer on a socket."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from billing.customers import service as customers
from billing.invoices.models import OPEN, Invoice, InvoiceLine
from billing.main import MIGRATIONS_DIR, NAME, wire
from billing.payments.http_processor import SandboxProcessor
from billing.payments.sandbox import SandboxState, create_app
from portal.billing.v1 import billing_pb2_grpc
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
def customer_settings(db: Database) -> Callable:
    """`await customer_settings(customer_id, tax_rate_bp=..., tax_free=..., terms_days=...)`: the customer's settings
    as billing's consumer applies them from identity's customer_updated (the only way they change)."""

    async def apply(
        customer_id: str, *, tax_rate_bp: int | None = None, tax_free: bool = False, terms_days: int | None = None
    ) -> None:
        async with db.unit_of_work() as s:
            await customers.apply_identity_settings(
                s,
                customer_id=customer_id,
                tax_rate_bp=tax_rate_bp,
                tax_free=tax_free,
                terms_days=terms_days,
                occurred_at=datetime.now(UTC),
            )

    return apply


@pytest.fixture
def make_invoice() -> Callable[..., Invoice]:
    """An open invoice with sensible defaults; `lines=["Labour", ...]` adds lines in that order.

    Ids are letters and zero-padded digits so that Python's order of them is the database's in any collation.
    """
    numbers = itertools.count(1001)

    def make(customer_id: str, *, lines: tuple[str, ...] = ("Labour",), **fields: object) -> Invoice:
        total = fields.pop("total_minor", 10_000)
        n = next(numbers)
        values: dict = {
            "id": f"inv{n}",
            "number": f"INV-{n}",
            "customer_id": customer_id,
            "issued_on": date(2026, 1, 1),
            "due_on": date(2026, 1, 31),
            "status": OPEN,
            "currency": "USD",
            "total_minor": total,
            "balance_minor": total,
            **fields,
        }
        inv = Invoice(**values)
        inv.lines = [
            InvoiceLine(position=i, description=d, quantity=Decimal("1.5"), unit_price_minor=100, amount_minor=150)
            for i, d in enumerate(lines, start=1)
        ]
        return inv

    return make


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.generate()


@pytest.fixture(scope="session")
def token(keys: Keys) -> Callable[[Principal], str]:
    """`token(principal)`: a principal token as identity would sign it."""
    return keys.token


@pytest.fixture
def sandbox() -> SandboxState:
    """The sandbox processor's state: tokens and charges, inspectable by tests."""
    return SandboxState()


@pytest.fixture
async def processor(sandbox: SandboxState) -> AsyncIterator[SandboxProcessor]:
    """The real sandbox HTTP adapter talking to the sandbox app in-process (ASGI transport, no socket)."""
    proc = SandboxProcessor("http://sandbox.test", transport=httpx.ASGITransport(app=create_app(sandbox)))
    yield proc
    await proc.close()


@pytest.fixture
def overpayment() -> str:
    """BILLING_OVERPAYMENT for the servicer; a test changes it with @pytest.mark.parametrize("overpayment", ...)."""
    return "refuse"


@pytest.fixture
async def stub(
    db: Database, keys: Keys, processor: SandboxProcessor, overpayment: str
) -> AsyncIterator[billing_pb2_grpc.BillingServiceStub]:
    """The servicer as main.wire registers it, on a real localhost socket, over the test database."""
    async with serve_wired(
        lambda rt: wire(rt, processor, overpayment=overpayment), db, keys.verifier, name=NAME
    ) as served:
        yield billing_pb2_grpc.BillingServiceStub(served.channel)
