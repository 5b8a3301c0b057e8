"""Global search (SPEC H4) over the assets service's records: assets and documents, each seen exactly as its list
RPC shows it. Functions take a read connection and never write.

- asset: View All (the customer and the subsidiaries its scope covers) or View Mine (the caller's contact's
  assets); the portal leaves retired assets out, as its lists do; staff see every customer's, retired ones too.
  Its name, serial number, type and notes are searched — what the asset page shows whoever may see the asset;
  custom fields are not indexed, and credentials (their own service and tables) never are.
- document: a portal user with Attachments - View Public finds its own customer's public documents, as
  ListDocuments decides (`documents.service.portal_customer`); staff find every document. By file name.

A serial number or file name equal to the query, or starting with it, ranks above every text match. A kind the
caller's group may not see gives no hits rather than an error: the gateway asks every service for every kind.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from assets.assets.models import Asset
from assets.documents.models import Document
from assets.documents.service import portal_customer
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, visibility
from servicekit.search import (
    Finder,
    Hit,
    Query,
    Results,
    TextIndex,
    best_matches,
    identifier_matches,
    run_finders,
    scoped,
    snippet,
)

KINDS = ("asset", "document")

# The same indexes migration 0006 creates (a change to one is a new migration that drops and creates it).
ASSETS = TextIndex("assets", ("name", "serial_number", "asset_type", "notes"))
DOCUMENTS = TextIndex("documents", ("filename",))
INDEXES = (ASSETS, DOCUMENTS)

_assets = Asset.__table__
_documents = Document.__table__


async def search(conn: AsyncConnection, *, principal: Principal, query: Query) -> Results:
    """The principal's best hits of each kind asked for, at most `query.limit` per kind."""
    return await run_finders(conn, principal=principal, query=query, finders=_FINDERS)


async def _assets_found(
    conn: AsyncConnection, principal: Principal, query: Query, params: dict, dialect: str
) -> list[Hit]:
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    sources = [ASSETS.matches(dialect)] if query.words else []
    serials = identifier_matches(_assets.c.serial_number, _assets.c.id)
    stmt = sa.select(
        _assets.c.id,
        _assets.c.customer_id,
        _assets.c.name,
        _assets.c.serial_number,
        _assets.c.asset_type,
        _assets.c.notes,
        _assets.c.created_at,
        _assets.c.retired_at,
    )
    # The serial match reads the table itself: scoped like the hits, it stays within the caller's customers.
    stmt, serials = (scoped(q, _assets, scope, query) for q in (stmt, serials))
    ranked = best_matches([*sources, serials])
    stmt = stmt.add_columns(ranked.c.rank).join(ranked, ranked.c.record_id == _assets.c.id)
    if not principal.is_staff:
        stmt = stmt.where(_assets.c.retired_at.is_(None))
    stmt = stmt.order_by(ranked.c.rank.desc(), _assets.c.name, _assets.c.id).limit(query.limit + 1)
    rows = (await conn.execute(stmt, params)).all()
    return [
        Hit(
            kind="asset",
            id=r.id,
            title=r.name,
            snippet=snippet([r.serial_number, r.asset_type, r.notes], query.words),
            customer_id=r.customer_id,
            updated_at=r.retired_at or r.created_at,
            rank=float(r.rank),
        )
        for r in rows
    ]


async def _documents_found(
    conn: AsyncConnection, principal: Principal, query: Query, params: dict, dialect: str
) -> list[Hit]:
    sources = [DOCUMENTS.matches(dialect)] if query.words else []
    ranked = best_matches([*sources, identifier_matches(_documents.c.filename, _documents.c.id)])
    stmt = sa.select(
        _documents.c.id,
        _documents.c.customer_id,
        _documents.c.filename,
        _documents.c.content_type,
        _documents.c.created_at,
        ranked.c.rank,
    ).join(ranked, ranked.c.record_id == _documents.c.id)
    if principal.is_staff:
        if query.customer_id:
            stmt = stmt.where(_documents.c.customer_id == query.customer_id)
    else:
        stmt = stmt.where(_documents.c.customer_id == portal_customer(principal), _documents.c.is_public.is_(True))
    stmt = stmt.order_by(ranked.c.rank.desc(), _documents.c.created_at.desc(), _documents.c.id).limit(query.limit + 1)
    rows = (await conn.execute(stmt, params)).all()
    return [
        Hit(
            kind="document",
            id=r.id,
            title=r.filename,
            snippet="",
            customer_id=r.customer_id,
            updated_at=r.created_at,
            rank=float(r.rank),
        )
        for r in rows
    ]


_FINDERS: dict[str, Finder] = {
    "asset": _assets_found,
    "document": _documents_found,
}
