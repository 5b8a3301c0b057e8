"""The two ticket charts (SPEC T11), over the tickets the principal may see (its Mine or All scope, as on
the ticket list): open tickets counted by priority, and how long resolved/closed tickets took, on average,
per priority.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.principal import Principal
from tickets.tickets.models import Ticket
from tickets.tickets.service import PRIORITIES, visible_to


@dataclass(frozen=True)
class Resolution:
    priority: str
    count: int
    mean_hours: float


@dataclass(frozen=True)
class Charts:
    open_by_priority: list[tuple[str, int]]
    resolution_by_priority: list[Resolution]


def _order(priority: str) -> tuple[int, str]:
    # The catalogue's order (Low → Urgent), anything else after it.
    return (PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES), priority)


async def ticket_charts(session: AsyncSession, *, principal: Principal) -> Charts:
    """Both charts' figures; PERMISSION_DENIED without a ticket view permission."""
    scope = visible_to(principal)
    if scope is None:
        return Charts([], [])
    open_rows = await session.execute(
        sa.select(Ticket.priority, sa.func.count()).where(*scope, Ticket.closed_at.is_(None)).group_by(Ticket.priority)
    )
    opened = sorted(((p, int(n)) for p, n in open_rows), key=lambda r: _order(r[0]))

    dialect = (await session.connection()).dialect.name
    if dialect == "postgresql":
        seconds = sa.func.extract("epoch", Ticket.closed_at - Ticket.created_at)
    else:
        seconds = (sa.func.julianday(Ticket.closed_at) - sa.func.julianday(Ticket.created_at)) * 86_400.0
    resolved_rows = await session.execute(
        sa.select(Ticket.priority, sa.func.count(), sa.func.avg(seconds))
        .where(*scope, Ticket.closed_at.is_not(None))
        .group_by(Ticket.priority)
    )
    resolved = sorted(
        (Resolution(p, int(n), max(float(avg or 0.0), 0.0) / 3600.0) for p, n, avg in resolved_rows),
        key=lambda r: _order(r.priority),
    )
    return Charts(opened, resolved)
