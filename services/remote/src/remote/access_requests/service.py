"""X1 access requests: staff ask, the customer's portal users decide; the status reads "expired" from the times."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from remote.access_requests.models import APPROVED, DECLINED, EXPIRED, PENDING, AccessRequest
from remote.events import publish
from servicekit.db import utcnow
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound
from servicekit.pagination import keyset, keyset_cursor
from servicekit.principal import Principal

MIN_WINDOW, MAX_WINDOW, DEFAULT_WINDOW = 5, 240, 30
PENDING_FOR = timedelta(days=1)


def status_of(req: AccessRequest, now: datetime | None = None) -> str:
    now = now or utcnow()
    if req.status == PENDING and req.requested_at + PENDING_FOR <= now:
        return EXPIRED
    if req.status == APPROVED and req.window_ends_at is not None and req.window_ends_at <= now:
        return EXPIRED
    return req.status


async def request_access(
    s: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    asset_id: str,
    asset_name: str,
    ticket_id: str,
    window_minutes: int,
    reason: str,
    asset_contact_id: str = "",
) -> AccessRequest:
    if not ticket_id.strip():
        raise InvalidArgument("an access request needs the ticket it is for", field="ticket_id")
    if len(ticket_id) > 36:
        raise InvalidArgument("ticket_id is not a ticket id", field="ticket_id")
    window = window_minutes or DEFAULT_WINDOW
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise InvalidArgument(f"window_minutes must be {MIN_WINDOW} to {MAX_WINDOW}", field="window_minutes")
    if len(reason) > 2000:
        raise InvalidArgument("reason is at most 2,000 characters", field="reason")
    req = AccessRequest(
        customer_id=customer_id,
        asset_id=asset_id,
        ticket_id=ticket_id,
        requested_by=(principal.display_name or principal.email or principal.subject_id)[:200],
        requested_by_id=principal.subject_id,
        reason=reason,
        window_minutes=window,
        status=PENDING,
        requested_at=utcnow(),
    )
    s.add(req)
    await s.flush()
    await publish.access_requested(s, req, asset_name, asset_contact_id)
    return req


async def decide(s: AsyncSession, *, principal: Principal, req: AccessRequest, approve: bool) -> AccessRequest:
    if status_of(req) != PENDING:
        raise FailedPrecondition(f"this request is {status_of(req)}, not pending")
    now = utcnow()
    req.status = APPROVED if approve else DECLINED
    req.decided_by = (principal.display_name or principal.email or principal.subject_id)[:200]
    req.decided_at = now
    if approve:
        req.window_ends_at = now + timedelta(minutes=req.window_minutes)
    await s.flush()
    await publish.access_decided(s, req)
    return req


async def get(s: AsyncSession, request_id: str) -> AccessRequest:
    req = await s.get(AccessRequest, request_id) if request_id else None
    if req is None:
        raise NotFound("no such access request", field="request_id")
    return req


async def list_requests(
    s: AsyncSession,
    *,
    customer_ids: tuple[str, ...] | None,
    asset_id: str,
    status: str,
    page_size: int,
    cursor: str = "",
) -> tuple[list[AccessRequest], str]:
    """Newest first; the status filter is applied to the read status (so "expired" works), page by page."""
    if status and status not in (PENDING, APPROVED, DECLINED, EXPIRED):
        raise InvalidArgument("status must be pending, approved, declined or expired", field="status")
    query: Select = select(AccessRequest)
    if customer_ids is not None:
        query = query.where(AccessRequest.customer_id.in_(customer_ids))
    if asset_id:
        query = query.where(AccessRequest.asset_id == asset_id)
    before = keyset(cursor)
    if before is not None:
        query = query.where(tuple_(AccessRequest.requested_at, AccessRequest.id) < tuple_(*before))
    query = query.order_by(AccessRequest.requested_at.desc(), AccessRequest.id.desc())
    now = utcnow()
    page: list[AccessRequest] = []
    more = False
    for req in (await s.execute(query.limit(1000))).scalars():
        if status and status_of(req, now) != status:
            continue
        if len(page) == page_size:
            more = True
            break
        page.append(req)
    return page, keyset_cursor(page[-1].requested_at, page[-1].id) if more else ""
