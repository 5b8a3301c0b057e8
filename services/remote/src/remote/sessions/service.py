"""Remote sessions: opening (who may, for how long), attaching once, ending with the audit record."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from remote.events import publish
from remote.sessions.models import RemoteSession
from servicekit.db import utcnow
from servicekit.errors import FailedPrecondition, NotFound, PermissionDenied
from servicekit.pagination import keyset, keyset_cursor
from servicekit.principal import Principal

# A session past its limit that no relay ended (its replica died) is ended by the sweeper after this.
SWEEP_GRACE = timedelta(seconds=30)


async def create(
    s: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    asset_id: str,
    agent_id: str,
    ends_at: datetime,
    ticket_id: str = "",
    access_request_id: str = "",
) -> RemoteSession:
    rs = RemoteSession(
        customer_id=customer_id,
        asset_id=asset_id,
        agent_id=agent_id,
        ticket_id=ticket_id,
        access_request_id=access_request_id,
        opened_by_kind="staff" if principal.is_staff else "portal",
        opened_by=(principal.display_name or principal.email or principal.subject_id)[:200],
        opener_kind=principal.kind,
        opener_subject=principal.subject_id,
        started_at=utcnow(),
        ends_at=ends_at,
    )
    s.add(rs)
    await s.flush()
    return rs


async def attach(s: AsyncSession, *, principal: Principal, session_id: str) -> RemoteSession:
    """Only the opener, once, before the session ends."""
    rs = await s.get(RemoteSession, session_id) if session_id else None
    if rs is None or rs.opener_kind != principal.kind or rs.opener_subject != principal.subject_id:
        raise NotFound("no such remote session", field="attach_session_id")
    now = utcnow()
    if rs.ended_at is not None or rs.ends_at <= now:
        raise FailedPrecondition("this remote session has ended")
    claimed = await s.execute(
        update(RemoteSession)
        .where(RemoteSession.id == session_id, RemoteSession.attached_at.is_(None), RemoteSession.ended_at.is_(None))
        .values(attached_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise PermissionDenied("this remote session's terminal is already attached")
    return rs


async def end(
    s: AsyncSession,
    session_id: str,
    reason: str,
    *,
    bytes_to_device: int = 0,
    bytes_from_device: int = 0,
    only_unattached: bool = False,
) -> RemoteSession | None:
    """End the session once (RemoteSessionEnded in the same unit of work); None when it had already ended."""
    rs = await s.get(RemoteSession, session_id, with_for_update=True)
    if rs is None or rs.ended_at is not None or (only_unattached and rs.attached_at is not None):
        return None
    rs.ended_at = utcnow()
    rs.end_reason = reason
    rs.bytes_to_device = bytes_to_device
    rs.bytes_from_device = bytes_from_device
    await s.flush()
    await publish.remote_session_ended(s, rs)
    return rs


async def open_session_ids_of_agent(s: AsyncSession, agent_id: str) -> list[str]:
    rows = await s.execute(
        select(RemoteSession.id).where(RemoteSession.agent_id == agent_id, RemoteSession.ended_at.is_(None))
    )
    return [r.id for r in rows]


async def sweep_past_limit(s: AsyncSession, *, now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    rows = (
        await s.execute(
            select(RemoteSession.id).where(RemoteSession.ended_at.is_(None), RemoteSession.ends_at < now - SWEEP_GRACE)
        )
    ).all()
    ended = []
    for row in rows:
        if await end(s, row.id, "limit") is not None:
            ended.append(row.id)
    return ended


async def list_sessions(
    s: AsyncSession,
    *,
    customer_ids: tuple[str, ...] | None,
    asset_ids: list[str] | None,
    page_size: int,
    cursor: str = "",
) -> tuple[list[RemoteSession], str]:
    query: Select = select(RemoteSession)
    if customer_ids is not None:
        query = query.where(RemoteSession.customer_id.in_(customer_ids))
    if asset_ids is not None:
        query = query.where(RemoteSession.asset_id.in_(asset_ids))
    before = keyset(cursor)
    if before is not None:
        query = query.where(tuple_(RemoteSession.started_at, RemoteSession.id) < tuple_(*before))
    query = query.order_by(RemoteSession.started_at.desc(), RemoteSession.id.desc()).limit(page_size + 1)
    rows = list((await s.execute(query)).scalars())
    page, more = rows[:page_size], len(rows) > page_size
    return page, keyset_cursor(page[-1].started_at, page[-1].id) if more else ""
