"""Script run queries. Functions take the caller's session and never commit.

Who sees a run: runs belong to a customer's device, so they follow the Assets permissions. "All" sees the
runs of the customers it covers. "Mine" means records linked to the signed-in contact, and a run is linked
to no contact yet (nothing records who asked for it), so "Mine" sees no runs until runs record their
requesting contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from remote.script_runs.models import ScriptRun
from servicekit.errors import InvalidArgument
from servicekit.pagination import decode_cursor, encode_cursor
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, visibility


@dataclass(frozen=True)
class ScriptRunPage:
    script_runs: list[ScriptRun]
    next_cursor: str


async def list_script_runs(
    session: AsyncSession, *, principal: Principal, page_size: int, cursor: str = ""
) -> ScriptRunPage:
    """The script runs on the principal's visible customers' devices, newest first (started_at, id), one page."""
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    before = _decode_cursor(cursor)
    if scope.contact_id is not None:
        return ScriptRunPage([], "")
    query = select(ScriptRun)
    if scope.customer_ids is not None:
        query = query.where(ScriptRun.customer_id.in_(scope.customer_ids))
    if before is not None:
        query = query.where(tuple_(ScriptRun.started_at, ScriptRun.id) < before)
    query = query.order_by(ScriptRun.started_at.desc(), ScriptRun.id.desc()).limit(page_size + 1)
    rows = list(await session.scalars(query))
    page, more = rows[:page_size], len(rows) > page_size
    return ScriptRunPage(page, encode_cursor(page[-1].started_at.isoformat(), page[-1].id) if more else "")


def _decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    started_at, run_id = values
    try:
        if not isinstance(run_id, str):
            raise TypeError(run_id)
        when = datetime.fromisoformat(started_at)
        if when.tzinfo is None:
            raise ValueError(started_at)
    except (TypeError, ValueError):
        raise InvalidArgument("the cursor is malformed; start again from the first page", field="cursor") from None
    return when, run_id
