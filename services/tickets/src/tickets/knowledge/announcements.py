"""Announcements (SPEC T10): staff write them; every portal user's home shows the active ones between their
start and end. Operator-wide, so the gateway can cache one list for everybody.

Functions take the caller's session and never commit: the RPC's unit of work does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import pagination
from servicekit.errors import InvalidArgument, NotFound
from servicekit.principal import Principal
from tickets.db import UtcDateTime
from tickets.knowledge.models import Announcement
from tickets.knowledge.service import require_staff
from tickets.text import text_field

TITLE_MAX = 200
BODY_MAX = 5_000
CURRENT_MAX = 20


@dataclass(frozen=True)
class Fields:
    title: str
    body: str
    starts_at: datetime | None
    ends_at: datetime | None
    active: bool


@dataclass(frozen=True)
class AnnouncementPage:
    announcements: list[Announcement]
    next_cursor: str


async def create_announcement(session: AsyncSession, *, principal: Principal, fields: Fields) -> Announcement:
    """A new announcement."""
    require_staff(principal)
    f = _valid(fields)
    now = datetime.now(UTC)
    item = Announcement(
        id=str(uuid.uuid4()),
        title=f.title,
        body=f.body,
        starts_at=f.starts_at,
        ends_at=f.ends_at,
        active=f.active,
        created_by=principal.subject_id,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    await session.flush()
    return item


async def update_announcement(
    session: AsyncSession, *, principal: Principal, announcement_id: str, fields: Fields
) -> Announcement:
    """Replace every field of an announcement."""
    require_staff(principal)
    item = await _announcement(session, announcement_id)
    f = _valid(fields)
    item.title, item.body, item.starts_at, item.ends_at, item.active = (
        f.title,
        f.body,
        f.starts_at,
        f.ends_at,
        f.active,
    )
    item.updated_at = datetime.now(UTC)
    await session.flush()
    return item


async def delete_announcement(session: AsyncSession, *, principal: Principal, announcement_id: str) -> None:
    """Remove an announcement."""
    require_staff(principal)
    await session.delete(await _announcement(session, announcement_id))
    await session.flush()


async def list_announcements(
    session: AsyncSession, *, principal: Principal, page_size: int = 0, cursor: str = ""
) -> AnnouncementPage:
    """Staff: every announcement, newest first."""
    require_staff(principal)
    size = pagination.page_size(page_size)
    q = sa.select(Announcement)
    after = pagination.keyset(cursor)
    if after is not None:
        when, last_id = after
        bound = sa.tuple_(sa.literal(when, UtcDateTime()), sa.literal(last_id, sa.String()))
        q = q.where(sa.tuple_(Announcement.created_at, Announcement.id) < bound)
    order = (Announcement.created_at.desc(), Announcement.id.desc())
    rows = list((await session.scalars(q.order_by(*order).limit(size + 1))).all())
    if len(rows) <= size:
        return AnnouncementPage(rows, "")
    rows = rows[:size]
    return AnnouncementPage(rows, pagination.keyset_cursor(rows[-1].created_at, rows[-1].id))


async def current_announcements(session: AsyncSession, *, now: datetime | None = None) -> list[Announcement]:
    """Active announcements that have not ended, newest first (some may start later: the caller
    compares starts_at with its own clock, so a cached copy shows them on time)."""
    now = now or datetime.now(UTC)
    q = (
        sa.select(Announcement)
        .where(Announcement.active.is_(True))
        .where(sa.or_(Announcement.ends_at.is_(None), Announcement.ends_at > sa.literal(now, UtcDateTime())))
        .order_by(Announcement.created_at.desc(), Announcement.id.desc())
        .limit(CURRENT_MAX)
    )
    return list((await session.scalars(q)).all())


def is_showing(item: Announcement, now: datetime) -> bool:
    """Whether the portal shows it at `now`."""
    return (
        item.active
        and (item.starts_at is None or item.starts_at <= now)
        and (item.ends_at is None or now < item.ends_at)
    )


async def _announcement(session: AsyncSession, announcement_id: str) -> Announcement:
    try:
        canonical = str(uuid.UUID(announcement_id))
    except (ValueError, TypeError):
        raise InvalidArgument("must be an announcement id (a UUID)", field="announcement_id") from None
    item = await session.get(Announcement, canonical)
    if item is None:
        raise NotFound("announcement not found")
    return item


def _valid(f: Fields) -> Fields:
    title = text_field(f.title, field="title", label="title", limit=TITLE_MAX, one_line=True)
    body = text_field(f.body, field="body", label="body", limit=BODY_MAX, one_line=False)
    if f.starts_at and f.ends_at and f.ends_at <= f.starts_at:
        raise InvalidArgument("the end must be after the start", field="ends_at")
    return Fields(title=title, body=body, starts_at=f.starts_at, ends_at=f.ends_at, active=f.active)
