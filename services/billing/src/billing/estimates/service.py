"""Estimates (SPEC B8): staff create them, the portal lists them and approves or declines an open one once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from billing.customers.service import claim_key, next_number, request_digest, require_billing_admin
from billing.db import utcnow
from billing.estimates.models import APPROVED, DECLINED, DRAFT, OPEN, Estimate, EstimateLine
from billing.events import publish
from billing.invoices.service import LineInput, check_currency, escape_like, priced_lines
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import ESTIMATES_VIEW_ALL, ESTIMATES_VIEW_MINE
from servicekit.principal import Principal, Visibility, visibility

STATUSES = (DRAFT, OPEN, APPROVED, DECLINED)


@dataclass(frozen=True)
class EstimatePage:
    estimates: list[Estimate]
    next_cursor: str


async def create_estimate(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    contact_id: str = "",
    name: str,
    currency: str = "USD",
    lines: list[LineInput],
    idempotency_key: str = "",
    draft: bool = False,
) -> tuple[Estimate, bool]:
    """Staff make an estimate: sent at once (open until the customer approves or declines it), or kept as a draft
    that only staff see until `send_estimate`. With an idempotency key, a repeat of the same request answers the
    first estimate (True)."""
    require_billing_admin(principal)
    if not customer_id:
        raise InvalidArgument("a customer is required", field="customer_id")
    if not name.strip():
        raise InvalidArgument("the estimate needs a name", field="name")
    currency = check_currency(currency)
    priced = priced_lines(lines)
    digest_fields: dict[str, object] = {
        "customer_id": customer_id,
        "contact_id": contact_id,
        "name": name.strip(),
        "currency": currency,
        "lines": [(d, str(q), u) for d, q, u, _ in priced],
    }
    if draft:
        digest_fields["draft"] = True
    claim = await claim_key(
        session,
        principal=principal,
        operation="estimate",
        idempotency_key=idempotency_key,
        digest=request_digest(**digest_fields),
    )
    if claim.replay_id is not None:
        return await get_estimate(session, principal=principal, estimate_id=claim.replay_id), True
    number = await next_number(session, "estimate")
    estimate = Estimate(
        number=f"EST-{number}",
        customer_id=customer_id,
        contact_id=contact_id or None,
        name=name.strip()[:200],
        status=DRAFT if draft else OPEN,
        sent_on=utcnow().date(),
        currency=currency,
        total_minor=sum(p[3] for p in priced),
    )
    estimate.lines = [
        EstimateLine(position=i, description=d, quantity=q, unit_price_minor=u, amount_minor=a)
        for i, (d, q, u, a) in enumerate(priced, start=1)
    ]
    session.add(estimate)
    await session.flush()
    claim.record(estimate.id)
    if not draft:  # sent at once: it awaits the customer's approval from now
        await publish.estimate_sent(session, estimate)
    return estimate, False


def _scoped(query, scope: Visibility):  # noqa: ANN001, ANN202
    if scope.customer_ids is not None:
        query = query.where(Estimate.customer_id.in_(scope.customer_ids))
    if scope.contact_id is not None:
        query = query.where(Estimate.contact_id == scope.contact_id)
    return query


async def list_estimates(
    session: AsyncSession,
    *,
    principal: Principal,
    page_size: int,
    cursor: str = "",
    query: str = "",
    status: str = "",
    customer_id: str = "",
) -> EstimatePage:
    """Visible estimates, newest first; filter by status, search number and name; `customer_id` narrows to one
    customer (it never widens what the principal sees)."""
    scope = visibility(principal, view_all=ESTIMATES_VIEW_ALL, view_mine=ESTIMATES_VIEW_MINE)
    stmt = _scoped(select(Estimate), scope)
    if not principal.is_staff:
        stmt = stmt.where(Estimate.status != DRAFT)
    if customer_id:
        stmt = stmt.where(Estimate.customer_id == customer_id)
    if status:
        if status not in STATUSES:
            raise InvalidArgument("status must be draft, open, approved or declined", field="status")
        stmt = stmt.where(Estimate.status == status)
    text = query.strip()
    if text:
        pattern = f"%{escape_like(text.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(Estimate.number).like(pattern, escape="\\"),
                func.lower(Estimate.name).like(pattern, escape="\\"),
            )
        )
    after = keyset(cursor, key=date)
    if after is not None:
        stmt = stmt.where(tuple_(Estimate.sent_on, Estimate.id) < after)
    rows = list(await session.scalars(stmt.order_by(Estimate.sent_on.desc(), Estimate.id.desc()).limit(page_size + 1)))
    page, more = rows[:page_size], len(rows) > page_size
    next_cursor = keyset_cursor(page[-1].sent_on, page[-1].id) if more else ""
    return EstimatePage(page, next_cursor)


async def get_estimate(session: AsyncSession, *, principal: Principal, estimate_id: str) -> Estimate:
    """The estimate with its lines, or NOT_FOUND when the principal may not see it (drafts are staff's only)."""
    scope = visibility(principal, view_all=ESTIMATES_VIEW_ALL, view_mine=ESTIMATES_VIEW_MINE)
    stmt = _scoped(select(Estimate), scope).where(Estimate.id == estimate_id).options(selectinload(Estimate.lines))
    if not principal.is_staff:
        stmt = stmt.where(Estimate.status != DRAFT)
    estimate = await session.scalar(stmt)
    if estimate is None:
        raise NotFound("no such estimate")
    return estimate


REASON_MAX = 500


async def decide_estimate(
    session: AsyncSession, *, principal: Principal, estimate_id: str, approve: bool, reason: str = ""
) -> Estimate:
    """Approve or decline an open estimate, once: the conditional update lets exactly one decision win. The
    optional reason is kept with the decision."""
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise InvalidArgument(f"reason: at most {REASON_MAX} characters")
    estimate = await get_estimate(session, principal=principal, estimate_id=estimate_id)
    new_status = APPROVED if approve else DECLINED
    now = utcnow()
    result = await session.execute(
        update(Estimate)
        .where(Estimate.id == estimate.id, Estimate.status == OPEN)
        .values(
            status=new_status,
            decided_at=now,
            decided_by=principal.subject_id,
            decided_by_name=(principal.display_name or "")[:200] or None,
            decision_reason=reason or None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        await session.refresh(estimate)
        raise FailedPrecondition(f"this estimate was already {estimate.status}; it can no longer change")
    await session.refresh(estimate)
    await publish.estimate_decided(session, estimate, status=new_status, decided_by=principal.subject_id)
    return estimate


async def send_estimate(session: AsyncSession, *, principal: Principal, estimate_id: str) -> tuple[Estimate, bool]:
    """A draft estimate is sent: dated today and open on the portal. True when it was sent already."""
    require_billing_admin(principal)
    result = await session.execute(
        update(Estimate)
        .where(Estimate.id == estimate_id, Estimate.status == DRAFT)
        .values(status=OPEN, sent_on=utcnow().date())
        .execution_options(synchronize_session=False)
    )
    estimate = await session.scalar(
        select(Estimate)
        .where(Estimate.id == estimate_id)
        .options(selectinload(Estimate.lines))
        .execution_options(populate_existing=True)
    )
    if estimate is None:
        raise NotFound("no such estimate")
    if result.rowcount == 1:
        await publish.estimate_sent(session, estimate)
    return estimate, result.rowcount != 1
