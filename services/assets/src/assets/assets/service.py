"""Asset queries. Functions take the caller's session or read connection and never commit."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Row, Select, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from assets.assets.models import Asset
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, visibility


@dataclass(frozen=True)
class AssetPage:
    # Rows of the assets table (attribute access like the model's), not ORM objects: see `list_assets`.
    assets: list[Row]
    next_cursor: str


async def list_assets(
    conn: AsyncConnection | AsyncSession, *, principal: Principal, page_size: int, cursor: str = ""
) -> AssetPage:
    """The assets the principal may see, by name (name, id), one keyset page.

    A Core select of the table, built once per shape, so it runs on `Database.read()`'s plain connection: the
    portal home calls it on every visit, and ORM objects and a freshly built statement each cost more CPU
    than the query itself.
    """
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    after = keyset(cursor, key=str)
    params: dict[str, object] = {"limit": page_size + 1}
    if scope.customer_ids is not None:
        params["customer_ids"] = list(scope.customer_ids)
    if scope.contact_id is not None:
        params["contact_id"] = scope.contact_id
    if after is not None:
        params["after_name"], params["after_id"] = after
    query = _page_query(scope.customer_ids is not None, scope.contact_id is not None, after is not None)
    rows = (await conn.execute(query, params)).all()
    page, more = rows[:page_size], len(rows) > page_size
    return AssetPage(page, keyset_cursor(page[-1].name, page[-1].id) if more else "")


@functools.cache
def _page_query(by_customer: bool, by_contact: bool, after: bool) -> Select:
    query = select(Asset.__table__)
    if by_customer:
        query = query.where(Asset.customer_id.in_(bindparam("customer_ids", expanding=True)))
    if by_contact:
        query = query.where(Asset.contact_id == bindparam("contact_id"))
    if after:
        query = query.where(tuple_(Asset.name, Asset.id) > tuple_(bindparam("after_name"), bindparam("after_id")))
    return query.order_by(Asset.name, Asset.id).limit(bindparam("limit"))
