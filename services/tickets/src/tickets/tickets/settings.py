"""The ticket settings staff change (issue 12): who portal-created tickets go to. One row; until an admin saves it,
the process's TICKETS_DEFAULT_ASSIGNEE applies. Functions never commit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.principal import Principal, require_admin
from tickets.tickets.models import TicketSettings

ROW = 1
ASSIGNEE_MAX = 64


async def default_assignee(s: AsyncSession, *, fallback: str) -> str:
    row = await s.get(TicketSettings, ROW)
    return row.default_assignee_id if row is not None else fallback


async def read(s: AsyncSession, *, principal: Principal, fallback: str) -> str:
    """The default assignee now in force, for any staff member."""
    if not principal.is_staff:
        raise PermissionDenied("only staff can do this")
    return await default_assignee(s, fallback=fallback)


async def update(s: AsyncSession, *, principal: Principal, default_assignee_id: str) -> str:
    """An admin's change (SPEC S1); '' sends portal tickets to nobody."""
    require_admin(principal, "change the ticket settings")
    value = default_assignee_id.strip()
    if len(value) > ASSIGNEE_MAX or any(ord(c) < 32 for c in value):
        raise InvalidArgument("not a staff member's id", field="default_assignee_id")
    row = await s.get(TicketSettings, ROW, with_for_update=True)
    if row is None:
        row = TicketSettings(id=ROW)
        s.add(row)
    row.default_assignee_id = value
    row.updated_by = principal.subject_id[:64]
    row.updated_at = datetime.now(UTC)
    await s.flush()
    return value
