"""Script run queries. Functions take the caller's session or read connection and never commit.

Who sees a run: runs belong to a customer's device, so they follow the Assets permissions. "All" sees the
runs of the customers it covers. "Mine" means records linked to the signed-in contact, and a run is linked
to no contact yet (nothing records who asked for it), so "Mine" sees no runs until runs record their
requesting contact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Row, Select, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from remote.script_runs.models import ScriptRun
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, visibility


@dataclass(frozen=True)
class ScriptRunPage:
    # Rows of the script_runs table (attribute access like the model's).
    script_runs: list[Row]
    next_cursor: str


async def list_script_runs(
    conn: AsyncConnection | AsyncSession, *, principal: Principal, page_size: int, cursor: str = ""
) -> ScriptRunPage:
    """The script runs the principal may see, newest first (started_at, id), one page: with All, those on its
    customers' devices; with Mine, those of its customer recorded for its contact.

    A Core select of the table, built once per shape, so it runs on `Database.read()`'s plain connection (the
    portal home calls it on every visit; see servicekit.db.Database.read).
    """
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    before = keyset(cursor)
    params: dict[str, object] = {"limit": page_size + 1}
    if scope.customer_ids is not None:
        params["customer_ids"] = list(scope.customer_ids)
    if scope.contact_id is not None:
        params["contact_id"] = scope.contact_id
    if before is not None:
        params["before_started_at"], params["before_id"] = before
    query = _page_query(scope.customer_ids is not None, scope.contact_id is not None, before is not None)
    rows = (await conn.execute(query, params)).all()
    page, more = rows[:page_size], len(rows) > page_size
    return ScriptRunPage(page, keyset_cursor(page[-1].started_at, page[-1].id) if more else "")


@functools.cache
def _page_query(by_customer: bool, by_contact: bool, before: bool) -> Select:
    runs = ScriptRun.__table__
    query = select(runs)
    if by_customer:
        query = query.where(runs.c.customer_id.in_(bindparam("customer_ids", expanding=True)))
    if by_contact:
        # A principal without a contact ('') matches no run: runs for no contact are NULL, not ''.
        query = query.where(runs.c.contact_id == bindparam("contact_id"))
    if before:
        key = tuple_(bindparam("before_started_at", type_=runs.c.started_at.type), bindparam("before_id"))
        query = query.where(tuple_(runs.c.started_at, runs.c.id) < key)
    return query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(bindparam("limit"))
