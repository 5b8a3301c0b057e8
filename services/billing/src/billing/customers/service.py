"""Per-customer billing settings and number sequences. Functions never commit."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers.models import DEFAULT_TERMS_DAYS, Counter, CustomerBilling, StaffRequest
from servicekit.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from servicekit.principal import Principal, require_admin

log = logging.getLogger(__name__)

MAX_TAX_BP = 10_000
MAX_TERMS_DAYS = 365
MAX_KEY = 64


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff may do this")


def require_billing_admin(principal: Principal) -> None:
    """Billing changes — invoices, estimates, manual payments, refunds, store credit — are an admin's (SPEC S1):
    a technician reads billing but changes none of it."""
    require_admin(principal, "change billing (invoices, estimates, payments, refunds, store credit)")


async def settings_for(session: AsyncSession, customer_id: str) -> CustomerBilling:
    """The customer's settings, or the defaults (no tax, 30-day terms) when identity's never reached billing."""
    row = await session.get(CustomerBilling, customer_id)
    return row or CustomerBilling(customer_id=customer_id, tax_rate_bp=0, tax_free=False, terms_days=DEFAULT_TERMS_DAYS)


async def get_settings(session: AsyncSession, *, principal: Principal, customer_id: str) -> CustomerBilling:
    """Staff read a customer's settings as invoices apply them; the defaults until identity's arrive."""
    require_staff(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    return await settings_for(session, customer_id)


async def apply_identity_settings(
    session: AsyncSession,
    *,
    customer_id: str,
    tax_rate_bp: int | None,
    tax_free: bool,
    terms_days: int | None,
    occurred_at: datetime,
) -> bool:
    """Take identity's settings of a customer (SPEC C3), unset meaning billing's defaults, unless a later change is
    already applied; True when applied. The row is read for update, so two replicas applying two events for one
    customer at once end with the later event's settings."""
    if not 0 <= (tax_rate_bp or 0) <= MAX_TAX_BP or not 0 <= (terms_days or 0) <= MAX_TERMS_DAYS:
        # Identity checks the same bounds; a value outside them is a bug to see in the log, not a tax to charge.
        log.warning(
            "settings of customer %s out of bounds (%s bp, %s days); ignored", customer_id, tax_rate_bp, terms_days
        )
        return False
    row = await session.get(CustomerBilling, customer_id, with_for_update=True, populate_existing=True)
    if row is None:
        row = CustomerBilling(customer_id=customer_id)
        session.add(row)
    elif row.settings_at is not None and occurred_at < row.settings_at:
        return False
    row.tax_rate_bp = tax_rate_bp or 0
    row.tax_free = tax_free
    row.terms_days = DEFAULT_TERMS_DAYS if terms_days is None else terms_days
    row.settings_at = occurred_at
    await session.flush()
    return True


async def forget_settings(session: AsyncSession, *, customer_id: str) -> None:
    """Identity deleted the customer (which it does only once billing holds no record of it): its settings go."""
    await session.execute(delete(CustomerBilling).where(CustomerBilling.customer_id == customer_id))


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
