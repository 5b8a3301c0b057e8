"""Global search (SPEC H4) over billing's records: invoices, estimates and payments, each kind seen exactly as its
list RPC shows it (View All / View Mine, the customer and the subsidiaries its scope covers, drafts for staff
only, succeeded payments only). Functions take a read connection and never write.

Text matches come from the full-text indexes below (migration 0010); a record number or a payment's reference
that equals the query, or starts with it, ranks above every text match. A kind the principal's group may not
see gives no hits rather than an error: the gateway asks every service for every kind.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.estimates.models import DRAFT as ESTIMATE_DRAFT
from billing.estimates.models import Estimate, EstimateLine
from billing.invoices.models import DRAFT as INVOICE_DRAFT
from billing.invoices.models import Invoice, InvoiceLine
from billing.payments.models import SUCCEEDED, Payment, PaymentAllocation
from servicekit import permissions as perm
from servicekit.principal import Principal, Visibility, visibility
from servicekit.search import (
    Finder,
    Hit,
    Query,
    Results,
    TextIndex,
    best_matches,
    identifier_matches,
    run_finders,
    scoped,
    snippet,
)

KINDS = ("invoice", "estimate", "payment")

# The same indexes migration 0010 creates (a change to one is a new migration that drops and creates it).
INVOICES = TextIndex("invoices", ("number",))
INVOICE_LINES = TextIndex("invoice_lines", ("description",), key="invoice_id")
ESTIMATES = TextIndex("estimates", ("number", "name"))
ESTIMATE_LINES = TextIndex("estimate_lines", ("description",), key="estimate_id")
# A payment's method is the card brand and last four (or "Check 1234"), as its list shows; charge_id is its
# reference. The processor's token is never indexed.
PAYMENTS = TextIndex("payments", ("method", "charge_id"))
INDEXES = (INVOICES, INVOICE_LINES, ESTIMATES, ESTIMATE_LINES, PAYMENTS)

_invoices = Invoice.__table__
_invoice_lines = InvoiceLine.__table__
_estimates = Estimate.__table__
_estimate_lines = EstimateLine.__table__
_payments = Payment.__table__
_allocations = PaymentAllocation.__table__
_TABLES = {t.name: t for t in (_invoices, _invoice_lines, _estimates, _estimate_lines)}


async def search(conn: AsyncConnection, *, principal: Principal, query: Query) -> Results:
    """The principal's best hits of each kind asked for, at most `query.limit` per kind."""
    return await run_finders(conn, principal=principal, query=query, finders=_FINDERS)


async def _invoices_found(
    conn: AsyncConnection, principal: Principal, query: Query, params: dict, dialect: str
) -> list[Hit]:
    scope = visibility(principal, view_all=perm.INVOICES_VIEW_ALL, view_mine=perm.INVOICES_VIEW_MINE)
    rows, lines = await _numbered_found(
        conn, principal, query, params, dialect, scope, (INVOICES, INVOICE_LINES), INVOICE_DRAFT, "issued_on"
    )
    return [
        Hit(
            kind="invoice",
            id=r.id,
            # A draft has no number until it is sent: its first line stands for it.
            title=r.number or next(iter(lines.get(r.id, [])), ""),
            snippet=snippet(lines.get(r.id, []), query.words),
            customer_id=r.customer_id,
            updated_at=r.voided_at or r.created_at,
            rank=float(r.rank),
        )
        for r in rows
    ]


async def _estimates_found(
    conn: AsyncConnection, principal: Principal, query: Query, params: dict, dialect: str
) -> list[Hit]:
    scope = visibility(principal, view_all=perm.ESTIMATES_VIEW_ALL, view_mine=perm.ESTIMATES_VIEW_MINE)
    rows, lines = await _numbered_found(
        conn, principal, query, params, dialect, scope, (ESTIMATES, ESTIMATE_LINES), ESTIMATE_DRAFT, "sent_on"
    )
    return [
        Hit(
            kind="estimate",
            id=r.id,
            title=f"{r.number} {r.name}",
            snippet=snippet([r.name, *lines.get(r.id, [])], query.words),
            customer_id=r.customer_id,
            updated_at=r.decided_at or r.created_at,
            rank=float(r.rank),
        )
        for r in rows
    ]


async def _numbered_found(
    conn: AsyncConnection,
    principal: Principal,
    query: Query,
    params: dict,
    dialect: str,
    scope: Visibility,
    indexes: tuple[TextIndex, TextIndex],
    draft: str,
    dated: str,
) -> tuple[list[sa.Row], dict[str, list[str]]]:
    """An invoice's or estimate's search (they share their shape): the rows matching the record's index, its lines'
    index or its number, scoped, drafts for staff only, best first then newest by `dated`; and their lines."""
    records, lines = indexes
    table = _TABLES[records.table]
    line_table = _TABLES[lines.table]
    sources = [records.matches(dialect), lines.matches(dialect)] if query.words else []
    # The number match reads the table itself: scoped like the hits, it stays within the caller's customers.
    numbers = scoped(identifier_matches(table.c.number, table.c.id), table, scope, query)
    ranked = best_matches([*sources, numbers])
    stmt = scoped(sa.select(table, ranked.c.rank).join(ranked, ranked.c.record_id == table.c.id), table, scope, query)
    if not principal.is_staff:
        stmt = stmt.where(table.c.status != draft)
    stmt = stmt.order_by(ranked.c.rank.desc(), table.c[dated].desc(), table.c.id.desc())
    rows = (await conn.execute(stmt.limit(query.limit + 1), params)).all()
    return rows, await _lines(conn, line_table, line_table.c[lines.key], [r.id for r in rows])


async def _payments_found(
    conn: AsyncConnection, principal: Principal, query: Query, params: dict, dialect: str
) -> list[Hit]:
    scope = visibility(principal, view_all=perm.PAYMENTS_VIEW_ALL, view_mine=perm.PAYMENTS_VIEW_MINE)
    sources = [PAYMENTS.matches(dialect)] if query.words else []
    # A payment is found by the number of an invoice it paid too, as its list's search finds it.
    paid_invoice = identifier_matches(_invoices.c.number, _allocations.c.payment_id).select_from(
        _allocations.join(_invoices, _invoices.c.id == _allocations.c.invoice_id)
    )
    # By customer only: a View Mine payer's payment may well pay an invoice made out to the whole customer.
    if scope.customer_ids is not None:
        paid_invoice = paid_invoice.where(_invoices.c.customer_id.in_(scope.customer_ids))
    references = scoped(identifier_matches(_payments.c.charge_id, _payments.c.id), _payments, scope, query)
    ranked = best_matches([*sources, references, paid_invoice])
    stmt = scoped(
        sa.select(
            _payments.c.id,
            _payments.c.customer_id,
            _payments.c.method,
            _payments.c.charge_id,
            _payments.c.created_at,
            _payments.c.completed_at,
            ranked.c.rank,
        ).join(ranked, ranked.c.record_id == _payments.c.id),
        _payments,
        scope,
        query,
    ).where(_payments.c.status == SUCCEEDED)
    stmt = stmt.order_by(ranked.c.rank.desc(), _payments.c.created_at.desc(), _payments.c.id.desc())
    rows = (await conn.execute(stmt.limit(query.limit + 1), params)).all()
    numbers = await _paid_numbers(conn, [r.id for r in rows])
    return [
        Hit(
            kind="payment",
            id=r.id,
            title=r.method or (r.charge_id or ""),
            snippet=snippet([" · ".join(filter(None, [r.charge_id or "", *numbers.get(r.id, [])]))], query.words),
            customer_id=r.customer_id,
            updated_at=r.completed_at or r.created_at,
            rank=float(r.rank),
        )
        for r in rows
    ]


async def _lines(conn: AsyncConnection, table: sa.Table, parent: sa.Column, ids: list[str]) -> dict[str, list[str]]:
    """The line descriptions of each record, in order; one query."""
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(parent, table.c.description).where(parent.in_(ids)).order_by(parent, table.c.position)
    )
    out: dict[str, list[str]] = {}
    for record_id, description in rows:
        out.setdefault(record_id, []).append(description)
    return out


async def _paid_numbers(conn: AsyncConnection, payment_ids: list[str]) -> dict[str, list[str]]:
    if not payment_ids:
        return {}
    rows = await conn.execute(
        sa.select(_allocations.c.payment_id, _invoices.c.number)
        .join(_invoices, _invoices.c.id == _allocations.c.invoice_id)
        .where(_allocations.c.payment_id.in_(payment_ids))
        .order_by(_allocations.c.payment_id, _allocations.c.position)
    )
    out: dict[str, list[str]] = {}
    for payment_id, number in rows:
        out.setdefault(payment_id, []).append(number or "")
    return out


_FINDERS: dict[str, Finder] = {
    "invoice": _invoices_found,
    "estimate": _estimates_found,
    "payment": _payments_found,
}
