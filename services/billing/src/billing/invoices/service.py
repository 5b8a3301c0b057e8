"""Invoice queries. Functions take the caller's session and never commit."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import Row, Select, bindparam, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import selectinload

from billing.customers.service import (
    claim_key,
    next_number,
    request_digest,
    require_billing_admin,
    settings_for,
)
from billing.db import utcnow
from billing.events import publish
from billing.invoices.models import DRAFT, OPEN, PAID, VOID, Invoice, InvoiceLine
from billing.payments.models import PENDING, SUCCEEDED, Payment, PaymentAllocation
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.money import MAX_MINOR, TOO_LARGE
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import INVOICES_PAY_ONLINE, INVOICES_VIEW_ALL, INVOICES_VIEW_MINE
from servicekit.principal import Principal, Visibility, require, visibility

SUMMARY_ITEMS = 3

PARTLY_PAID = "partly_paid"
OVERDUE = "overdue"


def display_status(*, status: str, total_minor: int, balance_minor: int, due_on: date, today: date) -> tuple[str, int]:
    """What the customer is shown for an invoice, and the days overdue: the one rule behind the portal's pages, the
    JSON API and the PDF. An open invoice past its due date is "overdue" (its days since the due date); else an open
    one with a balance below its total is "partly_paid"; else its status (open, paid, void)."""
    if status != OPEN:
        return status, 0
    if today > due_on:
        return OVERDUE, (today - due_on).days
    if 0 < balance_minor < total_minor:
        return PARTLY_PAID, 0
    return status, 0


def today_utc() -> date:
    return utcnow().date()


@dataclass(frozen=True)
class OpenInvoice:
    invoice: Invoice | Row
    items_summary: str


@dataclass(frozen=True)
class OpenInvoicePage:
    invoices: list[OpenInvoice]
    next_cursor: str


async def list_open_invoices(
    conn: AsyncConnection | AsyncSession, *, principal: Principal, page_size: int, cursor: str = ""
) -> OpenInvoicePage:
    """The unpaid open invoices the principal may see, oldest first (issued_on, id), one keyset page.

    Core selects of the tables, built once per shape, so it runs on `Database.read()`'s plain connection (the
    portal home calls it on every visit; see servicekit.db.Database.read). The invoices are table rows with
    the model's attribute names.
    """
    scope = visibility(principal, view_all=INVOICES_VIEW_ALL, view_mine=INVOICES_VIEW_MINE)
    after = keyset(cursor, key=date)
    params: dict[str, object] = {"open": OPEN, "limit": page_size + 1}
    if scope.customer_ids is not None:
        params["customer_ids"] = list(scope.customer_ids)
    if scope.contact_id is not None:
        params["contact_id"] = scope.contact_id
    if after is not None:
        params["after_issued_on"], params["after_id"] = after
    query = _open_page_query(scope.customer_ids is not None, scope.contact_id is not None, after is not None)
    rows = (await conn.execute(query, params)).all()
    page, more = rows[:page_size], len(rows) > page_size
    summaries = await _items_summaries(conn, [inv.id for inv in page])
    next_cursor = keyset_cursor(page[-1].issued_on, page[-1].id) if more else ""
    return OpenInvoicePage([OpenInvoice(inv, summaries.get(inv.id, "")) for inv in page], next_cursor)


@functools.cache
def _open_page_query(by_customer: bool, by_contact: bool, after: bool) -> Select:
    invoices = Invoice.__table__
    query = select(invoices).where(invoices.c.status == bindparam("open"), invoices.c.balance_minor > 0)
    if by_customer:
        query = query.where(invoices.c.customer_id.in_(bindparam("customer_ids", expanding=True)))
    if by_contact:
        query = query.where(invoices.c.contact_id == bindparam("contact_id"))
    if after:
        key = tuple_(bindparam("after_issued_on", type_=invoices.c.issued_on.type), bindparam("after_id"))
        query = query.where(tuple_(invoices.c.issued_on, invoices.c.id) > key)
    return query.order_by(invoices.c.issued_on, invoices.c.id).limit(bindparam("limit"))


def items_summary(first_descriptions: list[str], line_count: int) -> str:
    """The first lines' descriptions, comma-joined, and how many more lines there are."""
    text = ", ".join(first_descriptions)
    rest = line_count - len(first_descriptions)
    return f"{text} +{rest} more" if rest > 0 else text


def _scoped(query: Select, scope: Visibility) -> Select:
    if scope.customer_ids is not None:
        query = query.where(Invoice.customer_id.in_(scope.customer_ids))
    if scope.contact_id is not None:
        query = query.where(Invoice.contact_id == scope.contact_id)
    return query


async def _items_summaries(conn: AsyncConnection | AsyncSession, invoice_ids: list[str]) -> dict[str, str]:
    """One query for the whole page, reading at most SUMMARY_ITEMS lines of each invoice."""
    if not invoice_ids:
        return {}
    rows = await conn.execute(_ITEMS_SUMMARY_QUERY, {"invoice_ids": invoice_ids})
    firsts: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for invoice_id, description, line_count in rows:
        firsts.setdefault(invoice_id, []).append(description)
        counts[invoice_id] = line_count
    return {invoice_id: items_summary(descs, counts[invoice_id]) for invoice_id, descs in firsts.items()}


def _items_summary_query() -> Select:
    rank = func.row_number().over(partition_by=InvoiceLine.invoice_id, order_by=InvoiceLine.position)
    count = func.count().over(partition_by=InvoiceLine.invoice_id)
    lines = (
        select(InvoiceLine.invoice_id, InvoiceLine.description, rank.label("rank"), count.label("count"))
        .where(InvoiceLine.invoice_id.in_(bindparam("invoice_ids", expanding=True)))
        .subquery()
    )
    return (
        select(lines.c.invoice_id, lines.c.description, lines.c.count)
        .where(lines.c.rank <= SUMMARY_ITEMS)
        .order_by(lines.c.invoice_id, lines.c.rank)
    )


_ITEMS_SUMMARY_QUERY = _items_summary_query()


# --- Creating, listing, reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: str
    unit_price_minor: int


def priced_lines(lines: list[LineInput]) -> list[tuple[str, Decimal, int, int]]:
    """(description, quantity, unit price, amount) for each line, amounts rounded half-up to minor units."""
    if not lines:
        raise InvalidArgument("at least one line is required", field="lines")
    priced = []
    for i, line in enumerate(lines):
        description = line.description.strip()
        if not description:
            raise InvalidArgument(f"line {i + 1} needs a description", field="lines")
        try:
            quantity = Decimal(line.quantity or "1")
        except InvalidOperation:
            raise InvalidArgument(f"line {i + 1}: the quantity is not a number", field="lines") from None
        if not quantity.is_finite() or quantity <= 0 or quantity != quantity.quantize(Decimal("0.001")):
            raise InvalidArgument(f"line {i + 1}: the quantity must be positive, 3 decimals at most", field="lines")
        if line.unit_price_minor < 0:
            raise InvalidArgument(f"line {i + 1}: the unit price cannot be negative", field="lines")
        amount = int((quantity * line.unit_price_minor).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        priced.append((description, quantity, line.unit_price_minor, amount))
    return priced


def tax_for(subtotal_minor: int, rate_bp: int) -> int:
    """Tax in minor units, rounded half-up."""
    return int((Decimal(subtotal_minor) * rate_bp / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def check_currency(currency: str) -> str:
    currency = (currency or "USD").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidArgument("the currency must be an ISO 4217 code", field="currency")
    return currency


async def create_invoice(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    contact_id: str = "",
    ticket_id: str = "",
    issued_on: date | None = None,
    currency: str = "USD",
    lines: list[LineInput],
    terms_days: int | None = None,
    idempotency_key: str = "",
    draft: bool = False,
) -> tuple[Invoice, bool]:
    """Staff bill a customer: lines priced, the customer's tax applied, due after its terms. Sent at once
    (numbered, invoice_created) unless `draft`: then only staff see it until `send_invoice`.

    With an idempotency key, a repeat of the same request answers the first invoice; the bool says so.
    """
    require_billing_admin(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    currency = check_currency(currency)
    priced = priced_lines(lines)
    _check_terms(terms_days)
    digest_fields: dict[str, object] = {
        "customer_id": customer_id,
        "contact_id": contact_id,
        "ticket_id": ticket_id,
        "issued_on": issued_on.isoformat() if issued_on else "",
        "currency": currency,
        "lines": [(d, str(q), u) for d, q, u, _ in priced],
        "terms_days": terms_days,
    }
    if draft:
        digest_fields["draft"] = True
    claim = await claim_key(
        session,
        principal=principal,
        operation="invoice",
        idempotency_key=idempotency_key,
        digest=request_digest(**digest_fields),
    )
    if claim.replay_id is not None:
        return await get_visible_invoice(session, principal=principal, invoice_id=claim.replay_id), True
    settings = await settings_for(session, customer_id)
    terms = settings.terms_days if terms_days is None else terms_days
    issued = issued_on or utcnow().date()
    invoice = Invoice(
        number=None,
        customer_id=customer_id,
        contact_id=contact_id or None,
        ticket_id=ticket_id or None,
        issued_on=issued,
        due_on=issued + timedelta(days=terms),
        status=DRAFT,
        currency=currency,
    )
    _price(invoice, priced, 0 if settings.tax_free else settings.tax_rate_bp)
    session.add(invoice)
    await session.flush()
    claim.record(invoice.id)
    if not draft:
        await _send(session, invoice, issued_on=issued)
    return invoice, False


def _check_terms(terms_days: int | None) -> None:
    if terms_days is not None and not 0 <= terms_days <= 365:
        raise InvalidArgument("terms must be between 0 and 365 days", field="terms_days")


def _price(invoice: Invoice, priced: list[tuple[str, Decimal, int, int]], rate_bp: int) -> None:
    """Lines, subtotal, tax at `rate_bp` half-up on the subtotal, total and balance."""
    invoice.lines = [
        InvoiceLine(position=i, description=d, quantity=q, unit_price_minor=u, amount_minor=a)
        for i, (d, q, u, a) in enumerate(priced, start=1)
    ]
    subtotal = sum(p[3] for p in priced)
    invoice.subtotal_minor = subtotal
    invoice.tax_rate_bp = rate_bp
    invoice.tax_minor = tax_for(subtotal, rate_bp)
    invoice.total_minor = subtotal + invoice.tax_minor
    invoice.balance_minor = invoice.total_minor


async def _send(session: AsyncSession, invoice: Invoice, *, issued_on: date | None) -> None:
    """Number the invoice and open it (paid at once when it totals zero); invoice_created."""
    terms = (invoice.due_on - invoice.issued_on).days
    today = utcnow().date()
    invoice.issued_on = issued_on or today
    invoice.due_on = invoice.issued_on + timedelta(days=terms)
    invoice.sent_on = today
    invoice.number = f"INV-{await next_number(session, 'invoice')}"
    invoice.status = PAID if invoice.total_minor == 0 else OPEN
    await session.flush()
    await publish.invoice_created(session, invoice)


async def _locked_invoice(session: AsyncSession, principal: Principal, invoice_id: str) -> Invoice:
    require_billing_admin(principal)
    invoice = await session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .options(selectinload(Invoice.lines))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if invoice is None:
        raise NotFound("no such invoice")
    return invoice


async def update_invoice(
    session: AsyncSession,
    *,
    principal: Principal,
    invoice_id: str,
    contact_id: str,
    lines: list[LineInput],
    terms_days: int | None = None,
) -> Invoice:
    """Staff change a draft's contact, terms and lines; the customer's current tax rate is applied."""
    invoice = await _locked_invoice(session, principal, invoice_id)
    if invoice.status != DRAFT:
        raise FailedPrecondition("only a draft invoice can be edited; this one was sent")
    priced = priced_lines(lines)
    _check_terms(terms_days)
    settings = await settings_for(session, invoice.customer_id)
    terms = settings.terms_days if terms_days is None else terms_days
    # The old lines go first: the new ones reuse their positions (the primary key).
    invoice.lines.clear()
    await session.flush()
    invoice.contact_id = contact_id or None
    invoice.issued_on = utcnow().date()
    invoice.due_on = invoice.issued_on + timedelta(days=terms)
    _price(invoice, priced, 0 if settings.tax_free else settings.tax_rate_bp)
    await session.flush()
    return invoice


async def send_invoice(session: AsyncSession, *, principal: Principal, invoice_id: str) -> tuple[Invoice, bool]:
    """A draft is sent: numbered, dated today, due after its terms from today, visible and payable on the portal;
    invoice_created. True when it was sent already (nothing changes)."""
    invoice = await _locked_invoice(session, principal, invoice_id)
    if invoice.status != DRAFT:
        return invoice, True
    await _send(session, invoice, issued_on=None)
    return invoice, False


async def void_invoice(session: AsyncSession, *, principal: Principal, invoice_id: str) -> tuple[Invoice, bool]:
    """A draft or an open invoice with no payment applied — succeeded or still at the processor — becomes void: it
    leaves the balance and is payable no more. The invoice row is locked, as payments lock it, so a payment
    begun meanwhile is decided before or after, never half. True when it was void already."""
    invoice = await _locked_invoice(session, principal, invoice_id)
    if invoice.status == VOID:
        return invoice, True
    if invoice.status == PAID:
        raise FailedPrecondition(f"invoice {invoice.number} is paid; refund its payments instead of voiding it")
    paid = await session.scalar(
        select(func.count())
        .select_from(PaymentAllocation)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(PaymentAllocation.invoice_id == invoice.id, Payment.status.in_((PENDING, SUCCEEDED)))
    )
    if paid:
        raise FailedPrecondition(
            f"a payment was applied to invoice {invoice.number} (or is in progress); it cannot be voided"
        )
    invoice.status = VOID
    invoice.balance_minor = 0
    invoice.voided_at = utcnow()
    invoice.voided_by = principal.subject_id
    await session.flush()
    return invoice, False


@dataclass(frozen=True)
class InvoicePage:
    invoices: list[OpenInvoice]
    next_cursor: str


async def list_invoices(
    session: AsyncSession,
    *,
    principal: Principal,
    page_size: int,
    cursor: str = "",
    query: str = "",
    customer_id: str = "",
) -> InvoicePage:
    """Every visible invoice, paid and unpaid, newest first; `query` matches the number or any line.

    `customer_id` narrows the list to one customer (staff see every customer's otherwise); it never widens it.
    """
    scope = visibility(principal, view_all=INVOICES_VIEW_ALL, view_mine=INVOICES_VIEW_MINE)
    stmt = _scoped(select(Invoice), scope)
    if not principal.is_staff:
        stmt = stmt.where(Invoice.status != DRAFT)
    if customer_id:
        stmt = stmt.where(Invoice.customer_id == customer_id)
    text = query.strip()
    if text:
        pattern = f"%{escape_like(text.lower())}%"
        in_lines = (
            select(InvoiceLine.invoice_id)
            .where(InvoiceLine.invoice_id == Invoice.id, func.lower(InvoiceLine.description).like(pattern, escape="\\"))
            .exists()
        )
        stmt = stmt.where(or_(func.lower(Invoice.number).like(pattern, escape="\\"), in_lines))
    after = keyset(cursor, key=date)
    if after is not None:
        stmt = stmt.where(tuple_(Invoice.issued_on, Invoice.id) < after)
    rows = list(await session.scalars(stmt.order_by(Invoice.issued_on.desc(), Invoice.id.desc()).limit(page_size + 1)))
    page, more = rows[:page_size], len(rows) > page_size
    summaries = await _items_summaries(session, [inv.id for inv in page])
    next_cursor = keyset_cursor(page[-1].issued_on, page[-1].id) if more else ""
    return InvoicePage([OpenInvoice(inv, summaries.get(inv.id, "")) for inv in page], next_cursor)


async def get_visible_invoice(session: AsyncSession, *, principal: Principal, invoice_id: str) -> Invoice:
    """The invoice with its lines, or NOT_FOUND when the principal may not see it (drafts are staff's only)."""
    scope = visibility(principal, view_all=INVOICES_VIEW_ALL, view_mine=INVOICES_VIEW_MINE)
    stmt = _scoped(select(Invoice), scope).where(Invoice.id == invoice_id).options(selectinload(Invoice.lines))
    if not principal.is_staff:
        stmt = stmt.where(Invoice.status != DRAFT)
    invoice = await session.scalar(stmt)
    if invoice is None:
        raise NotFound("no such invoice")
    return invoice


async def summaries_of(session: AsyncSession, invoice_ids: list[str]) -> dict[str, str]:
    """Items summaries of the given invoices, one query."""
    return await _items_summaries(session, invoice_ids)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Paying invoices (SPEC B4, B5): which invoices a portal user may pay, and the one check of what it asks to pay,
# shared by card payments, store credit and the proposal of how an amount spreads.


@dataclass(frozen=True)
class AllocationInput:
    invoice_id: str
    amount_minor: int


def payer_customers(principal: Principal) -> tuple[str, ...]:
    """The customers whose invoices and payment profiles a portal user acts for; staff pay nothing."""
    if principal.is_staff or not principal.customer_id:
        raise PermissionDenied("only a customer's portal user can do this")
    return principal.customer_ids or (principal.customer_id,)


def _payable(principal: Principal, customer_id: str = "") -> Select:
    """The invoices a payer may pay: those it may view; with Pay Online alone, the customer's open invoices. Staff
    recording a payment they received name the customer."""
    if principal.is_staff and customer_id:
        return select(Invoice).where(Invoice.customer_id == customer_id)
    if not principal.has(INVOICES_VIEW_ALL) and not principal.has(INVOICES_VIEW_MINE):
        require(principal, INVOICES_PAY_ONLINE)
        scope = visibility(principal, view_all=INVOICES_PAY_ONLINE, view_mine="")
    else:
        scope = visibility(principal, view_all=INVOICES_VIEW_ALL, view_mine=INVOICES_VIEW_MINE)
    stmt = select(Invoice).where(Invoice.customer_id.in_(payer_customers(principal)))
    if scope.contact_id is not None:
        stmt = stmt.where(Invoice.contact_id == scope.contact_id)
    return stmt


async def open_payable_invoices(session: AsyncSession, principal: Principal, *, customer_id: str = "") -> list[Invoice]:
    """The invoices the payer may pay that have something left to pay, oldest first."""
    stmt = _payable(principal, customer_id).where(Invoice.status == OPEN, Invoice.balance_minor > 0)
    return list(await session.scalars(stmt.order_by(Invoice.issued_on, Invoice.id)))


async def payable_invoices(
    session: AsyncSession,
    principal: Principal,
    allocations: list[AllocationInput],
    *,
    overpayment: bool = False,
    customer_id: str = "",
) -> tuple[dict[str, Invoice], str]:
    """The invoices to pay, locked until the transaction ends, after checking every amount against its balance;
    and their one currency.

    An amount above an invoice's balance due is refused unless `overpayment` (the excess then becomes store credit).
    """
    if not allocations:
        raise InvalidArgument("choose at least one invoice to pay", field="allocations")
    if len({a.invoice_id for a in allocations}) != len(allocations):
        raise InvalidArgument("an invoice appears twice", field="allocations")
    if any(a.amount_minor <= 0 for a in allocations):
        raise InvalidArgument("every amount must be positive", field="allocations")
    if any(a.amount_minor > MAX_MINOR for a in allocations):
        raise InvalidArgument(TOO_LARGE, field="allocations")
    ids = [a.invoice_id for a in allocations]
    # Locked, in one order (no deadlock), with fresh balances: two payments for the same invoice are decided one
    # after the other, on every replica, so the second sees what the first holds (payments.service).
    locked = (
        _payable(principal, customer_id)
        .where(Invoice.id.in_(sorted(ids)))
        .order_by(Invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    invoices = {inv.id: inv for inv in await session.scalars(locked)}
    for a in allocations:
        invoice = invoices.get(a.invoice_id)
        if invoice is None:
            raise NotFound("no such invoice")
        if invoice.status != OPEN or invoice.balance_minor <= 0:
            raise FailedPrecondition(f"invoice {invoice.number} has nothing left to pay")
        if a.amount_minor > invoice.balance_minor and not overpayment:
            raise InvalidArgument(
                f"the amount for {invoice.number} is more than its balance due (overpayment is refused)",
                field="allocations",
            )
    currencies = {invoices[i].currency for i in ids}
    if len(currencies) != 1:
        raise InvalidArgument("invoices in different currencies are paid separately", field="allocations")
    return invoices, currencies.pop()
