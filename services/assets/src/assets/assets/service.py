"""Asset queries. Functions take the caller's session and never commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from assets.assets.models import Asset
from servicekit.errors import InvalidArgument
from servicekit.pagination import decode_cursor, encode_cursor
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, Visibility, visibility


@dataclass(frozen=True)
class AssetPage:
    assets: list[Asset]
    next_cursor: str


async def list_assets(session: AsyncSession, *, principal: Principal, page_size: int, cursor: str = "") -> AssetPage:
    """The assets the principal may see, by name (name, id), one keyset page."""
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    query = _scoped(select(Asset), scope)
    after = _decode_cursor(cursor)
    if after is not None:
        query = query.where(tuple_(Asset.name, Asset.id) > after)
    rows = list(await session.scalars(query.order_by(Asset.name, Asset.id).limit(page_size + 1)))
    page, more = rows[:page_size], len(rows) > page_size
    return AssetPage(page, encode_cursor(page[-1].name, page[-1].id) if more else "")


def _scoped(query: Select, scope: Visibility) -> Select:
    if scope.customer_ids is not None:
        query = query.where(Asset.customer_id.in_(scope.customer_ids))
    if scope.contact_id is not None:
        query = query.where(Asset.contact_id == scope.contact_id)
    return query


def _decode_cursor(cursor: str) -> tuple[str, str] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    name, asset_id = values
    if not (isinstance(name, str) and isinstance(asset_id, str)):
        raise InvalidArgument("the cursor is malformed; start again from the first page", field="cursor")
    return name, asset_id
