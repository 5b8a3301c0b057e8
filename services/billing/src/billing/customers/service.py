"""Per-customer billing settings and number sequences. Functions never commit."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers.models import DEFAULT_TERMS_DAYS, Counter, CustomerBilling, StaffRequest
from servicekit.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from servicekit.principal import Principal

MAX_TAX_BP = 10_000
MAX_TERMS_DAYS = 365
MAX_KEY = 64


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff may do this")


async def settings_for(session: AsyncSession, customer_id: str) -> CustomerBilling:
    """The customer's settings, or the defaults (no tax, 30-day terms) when staff never set them."""
    row = await session.get(CustomerBilling, customer_id)
    return row or CustomerBilling(customer_id=customer_id, tax_rate_bp=0, tax_free=False, terms_days=DEFAULT_TERMS_DAYS)


async def get_settings(session: AsyncSession, *, principal: Principal, customer_id: str) -> CustomerBilling:
    """Staff read a customer's settings as invoices apply them; a row never saved is the defaults."""
    require_staff(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    return await settings_for(session, customer_id)


async def set_settings(
    session: AsyncSession, *, principal: Principal, customer_id: str, tax_rate_bp: int, tax_free: bool, terms_days: int
) -> CustomerBilling:
    """Staff set a customer's tax rate (or tax-free) and default terms."""
    require_staff(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    if not 0 <= tax_rate_bp <= MAX_TAX_BP:
        raise InvalidArgument("the tax rate must be between 0 and 100 %", field="tax_rate_bp")
    if not 0 <= terms_days <= MAX_TERMS_DAYS:
        raise InvalidArgument(f"terms must be between 0 and {MAX_TERMS_DAYS} days", field="terms_days")
    row = await session.get(CustomerBilling, customer_id)
    if row is None:
        row = CustomerBilling(customer_id=customer_id)
        session.add(row)
    row.tax_rate_bp, row.tax_free, row.terms_days = tax_rate_bp, tax_free, terms_days
    await session.flush()
    return row


async def next_number(session: AsyncSession, name: str) -> int:
    """The next value of a sequence; the row update serialises concurrent callers on every database."""
    for _ in range(3):
        value = await session.scalar(
            update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
        )
        if value is not None:
            return value
        try:
            async with session.begin_nested():
                session.add(Counter(name=name, value=1000))
            return 1000
        except IntegrityError:
            continue
    return await session.scalar(select(Counter.value).where(Counter.name == name))  # pragma: no cover


# --- Idempotent staff requests -------------------------------------------------------------------------------


@dataclass
class Claim:
    """A staff request's key: `replay_id` is the earlier result's id when the key was used before."""

    row: StaffRequest | None
    replay_id: str | None = None

    def record(self, result_id: str) -> None:
        if self.row is not None:
            self.row.result_id = result_id


def request_digest(**fields: object) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


async def claim_key(
    session: AsyncSession, *, principal: Principal, operation: str, idempotency_key: str, digest: str
) -> Claim:
    """Claim a staff idempotency key for this unit of work, or find the result it already has.

    The insert runs in a savepoint: of two concurrent requests with one key (two replicas, a retry), PostgreSQL
    makes the second wait on the primary key until the first commits, then it fails and reads the first's row.
    No key (empty) means no idempotency. The same key with another request is FAILED_PRECONDITION.
    """
    key = idempotency_key.strip()
    if not key:
        return Claim(None)
    if len(key) > MAX_KEY:
        raise InvalidArgument(f"the idempotency key is longer than {MAX_KEY} characters", field="idempotency_key")
    found = await session.get(StaffRequest, (operation, key))
    if found is None:
        row = StaffRequest(
            operation=operation, idempotency_key=key, request_digest=digest, created_by=principal.subject_id
        )
        try:
            async with session.begin_nested():
                session.add(row)
            return Claim(row)
        except IntegrityError:
            found = await session.scalar(
                select(StaffRequest)
                .where(StaffRequest.operation == operation, StaffRequest.idempotency_key == key)
                .execution_options(populate_existing=True)
            )
            if found is None:  # pragma: no cover - the unique violation was not this key's
                raise
    if found.request_digest != digest or not found.result_id:
        raise FailedPrecondition(f"this idempotency key was already used for a different {operation}")
    return Claim(None, replay_id=found.result_id)
