"""Assets and sites rules the pages and the JSON API share (SPEC A1–A3, T8): the limits (the assets service's own
values, pinned by a contract test), who gets the Mine / All tabs, and the tickets an asset or a site page lists.

The assets service decides what a user may see and change; these rules only decide what to offer."""

from __future__ import annotations

import asyncio
from typing import Literal, NamedTuple

import grpc

from gateway.clients import Backends
from gateway.clients.schemas import Asset, Page, Site, Ticket
from servicekit import permissions as perm
from servicekit.principal import Principal

# assets.assets.service and assets.assets.importing: longer values are refused there.
NAME_MAX = 200
SERIAL_MAX = 100
TYPE_MAX = 50
NOTES_MAX = 5_000
QUERY_MAX = 200
FIELD_NAME_MAX = 60
FIELD_VALUE_MAX = 1_000
CUSTOM_FIELDS_MAX = 30
SITE_NAME_MAX = 200
ADDRESS_MAX = 500
CSV_MAX_BYTES = 1024 * 1024
PAGE_SIZE = 25
TICKETS_SHOWN = 25
SECTION_ROWS = 10

Scope = Literal["all", "mine"]


def may_view(principal: Principal) -> bool:
    return principal.has(perm.ASSETS_VIEW_ALL) or principal.has(perm.ASSETS_VIEW_MINE)


def scope_tabs(principal: Principal) -> tuple[Scope, ...]:
    """The tabs the list offers: Mine and All for Assets - View All, none for View Mine (it sees its own anyway)."""
    return ("all", "mine") if principal.has(perm.ASSETS_VIEW_ALL) else ()


def mine_only(principal: Principal, scope: str) -> bool:
    """Whether the list narrows to the user's own contact: the Mine tab, or a group with View Mine only."""
    return scope == "mine" or not principal.has(perm.ASSETS_VIEW_ALL)


def editable_fields(asset: Asset) -> list[str]:
    """The names of the custom fields a customer may change on this asset."""
    return [f.name for f in asset.custom_fields if f.editable_by_customer]


async def tickets_of(
    backends: Backends, token: str, principal: Principal, *, asset_id: str = "", site_id: str = ""
) -> Page[Ticket] | None:
    """The newest tickets about the asset or at the site that the user may see; None when its group sees no
    tickets or the tickets service does not answer (the page then says so rather than failing)."""
    if not principal.is_staff and not (principal.has(perm.TICKETS_VIEW_ALL) or principal.has(perm.TICKETS_VIEW_MINE)):
        return None
    try:
        return await backends.tickets.list_tickets(
            token, page_size=TICKETS_SHOWN, asset_id=asset_id, site_id=site_id, sort="newest"
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return None
        raise


class CustomerAssets(NamedTuple):
    """What the staff customer page's Assets and sites section shows: the first sites and assets by name."""

    sites: list[Site]
    more_sites: bool
    assets: list[Asset]
    more_assets: bool


async def customer_assets(backends: Backends, token: str, customer_id: str) -> CustomerAssets:
    """The customer's first sites and active assets (staff)."""
    sites, assets = await asyncio.gather(
        backends.assets.list_sites(token, customer_id=customer_id, page_size=SECTION_ROWS),
        backends.assets.list_assets(token, customer_id=customer_id, page_size=SECTION_ROWS),
    )
    return CustomerAssets(sites.items, bool(sites.next_cursor), assets.items, bool(assets.next_cursor))


async def require_customer(backends: Backends, token: str, customer_id: str) -> None:
    """Staff add assets, sites and documents to a customer that exists: identity answers NOT_FOUND (a 404 problem)
    for any other id. The assets service keeps no list of customers, so without this a mistyped id would create
    rows that no customer page ever shows."""
    await backends.identity.get_customer(token, customer_id)
