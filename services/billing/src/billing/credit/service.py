"""Store credit (SPEC B10) and the account overview (B1). Functions never commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from billing.credit.models import CreditEntry
from billing.customers.service import claim_key, request_digest, require_billing_admin, require_staff
from billing.invoices.models import OPEN, Invoice
from billing.invoices.service import check_currency
from servicekit import permissions as perm
from servicekit.errors import InvalidArgument, NotFound
from servicekit.pagination import keyset, keyset_cursor
from servicekit.principal import Principal, require

DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class Overview:
    currency: str
    invoice_balance_minor: int
    credit_balance_minor: int
    open_invoices: int


@dataclass(frozen=True)
class CreditAdded:
    entry_id: str
    currency: str
    credit_balance_minor: int
    replayed: bool


async def add_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    amount_minor: int,
    currency: str,
    reference: str,
    message: str,
    idempotency_key: str = "",
) -> CreditAdded:
    """Staff add store credit with a reference and a message; the entry and the new credit balance. With an
    idempotency key, a repeat of the same request adds nothing and answers the first entry (replayed)."""
    require_billing_admin(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    if amount_minor <= 0:
        raise InvalidArgument("the credit must be a positive amount", field="amount")
    if not reference.strip():
        raise InvalidArgument("a reference is required", field="reference")
    currency = check_currency(currency)
    claim = await claim_key(
        session,
        principal=principal,
        operation="credit",
        idempotency_key=idempotency_key,
        digest=request_digest(
            customer_id=customer_id,
            amount_minor=amount_minor,
            currency=currency,
            reference=reference.strip()[:100],
            message=message.strip(),
        ),
    )
    if claim.replay_id is not None:
        balance = await credit_balance(session, customer_ids=(customer_id,), currency=currency)
        return CreditAdded(claim.replay_id, currency, balance, replayed=True)
    entry = CreditEntry(
        customer_id=customer_id,
        currency=currency,
        amount_minor=amount_minor,
        reference=reference.strip()[:100],
        message=message.strip(),
        created_by=principal.subject_id,
    )
    session.add(entry)
    await session.flush()
    claim.record(entry.id)
    balance = await credit_balance(session, customer_ids=(customer_id,), currency=currency)
    return CreditAdded(entry.id, currency, balance, replayed=False)


async def credit_balance(session: AsyncSession, *, customer_ids: tuple[str, ...], currency: str) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount_minor), 0)).where(
            CreditEntry.customer_id.in_(customer_ids), CreditEntry.currency == currency
        )
    )
    return int(total or 0)


async def account_overview(session: AsyncSession, *, principal: Principal, customer_id: str = "") -> Overview:
    """What the customer owes on open invoices and the store credit it holds (Account Overview - View). Staff name
    the customer; for a portal user `customer_id` can only narrow what it sees."""
    if principal.is_staff:
        if not customer_id:
            raise InvalidArgument("a customer is required", field="customer_id")
        customers: tuple[str, ...] = (customer_id,)
    else:
        require(principal, perm.ACCOUNT_OVERVIEW_VIEW)
        customers = principal.customer_ids or (principal.customer_id,)
        if customer_id:
            if customer_id not in customers:
                raise NotFound("no such customer")
            customers = (customer_id,)
    row = (
        await session.execute(
            select(Invoice.currency, func.sum(Invoice.balance_minor), func.count())
            .where(Invoice.customer_id.in_(customers), Invoice.status == OPEN, Invoice.balance_minor > 0)
            .group_by(Invoice.currency)
            .order_by(func.sum(Invoice.balance_minor).desc())
        )
    ).first()
    currency, owed, count = (row[0], int(row[1]), int(row[2])) if row else (DEFAULT_CURRENCY, 0, 0)
    credit = await credit_balance(session, customer_ids=customers, currency=currency)
    return Overview(currency, owed, credit, count)


@dataclass(frozen=True)
class Ledger:
    entries: list[CreditEntry]
    currency: str
    credit_balance_minor: int
    next_cursor: str


async def list_entries(
    session: AsyncSession, *, principal: Principal, customer_id: str, page_size: int, cursor: str = ""
) -> Ledger:
    """Staff read a customer's store credit ledger, newest first, and its balance (in its first entry's currency)."""
    require_staff(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    stmt = select(CreditEntry).where(CreditEntry.customer_id == customer_id)
    after = keyset(cursor)
    if after is not None:
        stmt = stmt.where(tuple_(CreditEntry.created_at, CreditEntry.id) < after)
    rows = list(
        await session.scalars(stmt.order_by(CreditEntry.created_at.desc(), CreditEntry.id.desc()).limit(page_size + 1))
    )
    page, more = rows[:page_size], len(rows) > page_size
    currency = page[0].currency if page else DEFAULT_CURRENCY
    balance = await credit_balance(session, customer_ids=(customer_id,), currency=currency)
    next_cursor = keyset_cursor(page[-1].created_at, page[-1].id) if more else ""
    return Ledger(page, currency, balance, next_cursor)
