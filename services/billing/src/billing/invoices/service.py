"""Invoice queries. Functions take the caller's session and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from billing.invoices.models import OPEN, Invoice, InvoiceLine
from servicekit.errors import InvalidArgument
from servicekit.pagination import decode_cursor, encode_cursor
from servicekit.permissions import INVOICES_VIEW_ALL, INVOICES_VIEW_MINE
from servicekit.principal import Principal, Visibility, visibility

SUMMARY_ITEMS = 3


@dataclass(frozen=True)
class OpenInvoice:
    invoice: Invoice
    items_summary: str


@dataclass(frozen=True)
class OpenInvoicePage:
    invoices: list[OpenInvoice]
    next_cursor: str


async def list_open_invoices(
    session: AsyncSession, *, principal: Principal, page_size: int, cursor: str = ""
) -> OpenInvoicePage:
    """The unpaid open invoices the principal may see, oldest first (issued_on, id), one keyset page."""
    scope = visibility(principal, view_all=INVOICES_VIEW_ALL, view_mine=INVOICES_VIEW_MINE)
    query = _scoped(select(Invoice), scope).where(Invoice.status == OPEN, Invoice.balance_minor > 0)
    after = _decode_cursor(cursor)
    if after is not None:
        query = query.where(tuple_(Invoice.issued_on, Invoice.id) > after)
    rows = list(await session.scalars(query.order_by(Invoice.issued_on, Invoice.id).limit(page_size + 1)))
    page, more = rows[:page_size], len(rows) > page_size
    summaries = await _items_summaries(session, [inv.id for inv in page])
    next_cursor = encode_cursor(page[-1].issued_on.isoformat(), page[-1].id) if more else ""
    return OpenInvoicePage([OpenInvoice(inv, summaries.get(inv.id, "")) for inv in page], next_cursor)


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


def _decode_cursor(cursor: str) -> tuple[date, str] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    issued_on, invoice_id = values
    try:
        if not isinstance(invoice_id, str):
            raise TypeError(invoice_id)
        return date.fromisoformat(issued_on), invoice_id
    except (TypeError, ValueError):
        raise InvalidArgument("the cursor is malformed; start again from the first page", field="cursor") from None


async def _items_summaries(session: AsyncSession, invoice_ids: list[str]) -> dict[str, str]:
    """One query for the whole page, reading at most SUMMARY_ITEMS lines of each invoice."""
    if not invoice_ids:
        return {}
    rank = func.row_number().over(partition_by=InvoiceLine.invoice_id, order_by=InvoiceLine.position)
    count = func.count().over(partition_by=InvoiceLine.invoice_id)
    lines = (
        select(InvoiceLine.invoice_id, InvoiceLine.description, rank.label("rank"), count.label("count"))
        .where(InvoiceLine.invoice_id.in_(invoice_ids))
        .subquery()
    )
    rows = await session.execute(
        select(lines.c.invoice_id, lines.c.description, lines.c.count)
        .where(lines.c.rank <= SUMMARY_ITEMS)
        .order_by(lines.c.invoice_id, lines.c.rank)
    )
    firsts: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for invoice_id, description, line_count in rows:
        firsts.setdefault(invoice_id, []).append(description)
        counts[invoice_id] = line_count
    return {invoice_id: items_summary(descs, counts[invoice_id]) for invoice_id, descs in firsts.items()}
