"""Sites (SPEC A3), and the reference check other services make before storing a site or asset id. Functions take
the caller's session and never commit.

Who sees a site: staff; a portal user with Assets - View All for the customers its scope covers, with Assets - View
Mine for its own customer (the site page then lists only its own assets). Staff of either role create and edit
sites; only an admin deletes one, and never while an asset stands on it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from assets.assets.models import Asset
from assets.checks import ID_MAX, clean_id, clean_key, clean_text, require_admin, require_staff
from assets.sites.models import Site
from servicekit.errors import FailedPrecondition, NotFound, PermissionDenied
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, visibility

NAME_MAX = 200
ADDRESS_MAX = 500


@dataclass(frozen=True)
class RefCheck:
    site_ok: bool
    asset_ok: bool


@dataclass(frozen=True)
class SitePage:
    sites: list[Site]
    next_cursor: str


def site_customers(principal: Principal) -> tuple[str, ...] | None:
    """The customers whose sites the principal sees; None for staff (all)."""
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    return scope.customer_ids


async def create_site(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    name: str,
    address: str = "",
    idempotency_key: str = "",
) -> Site:
    """Staff add a location to a customer; a repeat with the same idempotency key answers the first site."""
    require_staff(principal)
    customer_id = clean_id(customer_id, field="customer_id", required=True)
    key = clean_key(idempotency_key)
    if key and (done := await _site_by_key(session, customer_id, key)):
        return done
    site = Site(
        customer_id=customer_id,
        name=clean_text(name, field="name", limit=NAME_MAX, required=True),
        address=clean_text(address, field="address", limit=ADDRESS_MAX, multiline=True),
        idempotency_key=key,
    )
    session.add(site)
    await session.flush()
    return site


async def get_site(session: AsyncSession, *, principal: Principal, site_id: str) -> Site:
    """A site the principal may see; an unknown or another customer's id is NOT_FOUND alike."""
    customers = site_customers(principal)
    site = await session.get(Site, site_id) if 0 < len(site_id) <= ID_MAX else None
    if site is None or (customers is not None and site.customer_id not in customers):
        raise NotFound("no such site")
    return site


async def list_sites(
    session: AsyncSession, *, principal: Principal, page_size: int, cursor: str = "", customer_id: str = ""
) -> SitePage:
    """The sites the principal may see by name, one keyset page; `customer_id` narrows to one customer."""
    customers = site_customers(principal)
    query = select(Site)
    if customers is not None:
        query = query.where(Site.customer_id.in_(customers))
    if customer_id:
        query = query.where(Site.customer_id == clean_id(customer_id, field="customer_id"))
    after = keyset(cursor, key=str)
    if after is not None:
        query = query.where(tuple_(Site.name, Site.id) > tuple_(*after))
    rows = list((await session.scalars(query.order_by(Site.name, Site.id).limit(page_size + 1))).all())
    page, more = rows[:page_size], len(rows) > page_size
    return SitePage(page, keyset_cursor(page[-1].name, page[-1].id) if more else "")


async def update_site(
    session: AsyncSession, *, principal: Principal, site_id: str, name: str | None = None, address: str | None = None
) -> Site:
    """Staff rename a site or change its address; an absent field stays as it is."""
    require_staff(principal)
    site = await get_site(session, principal=principal, site_id=site_id)
    if name is not None:
        site.name = clean_text(name, field="name", limit=NAME_MAX, required=True)
    if address is not None:
        site.address = clean_text(address, field="address", limit=ADDRESS_MAX, multiline=True)
    await session.flush()
    return site


async def delete_site(session: AsyncSession, *, principal: Principal, site_id: str) -> None:
    """An admin removes a site that no asset stands on (retired ones included: they still name it)."""
    require_staff(principal)
    site = await get_site(session, principal=principal, site_id=site_id)
    require_admin(principal, "delete a site")
    count = await session.scalar(select(func.count()).select_from(Asset).where(Asset.site_id == site.id))
    if count:
        raise FailedPrecondition(
            f"the site still has {count} asset{'s' if count != 1 else ''}; move or delete them first", field="site_id"
        )
    await session.delete(site)
    await session.flush()


async def check_customer_refs(
    session: AsyncSession, *, principal: Principal, customer_id: str, site_id: str = "", asset_id: str = ""
) -> RefCheck:
    """Whether the site and the asset (each optional) belong to the customer. Portal users may only ask about
    customers their scope covers, so the answer never tells them anything about another customer."""
    customer_id = clean_id(customer_id, field="customer_id", required=True)
    if not principal.is_staff:
        covered = {principal.customer_id, *principal.customer_ids} - {""}
        if customer_id not in covered:
            raise PermissionDenied("you may only check references of your own customer")
    site_ok = not site_id or await site_of(session, customer_id, site_id)
    asset_ok = not asset_id or bool(
        await session.scalar(select(Asset.id).where(Asset.id == asset_id, Asset.customer_id == customer_id))
    )
    return RefCheck(site_ok=site_ok, asset_ok=asset_ok)


async def site_of(session: AsyncSession, customer_id: str, site_id: str) -> bool:
    """Whether `site_id` is one of the customer's sites."""
    if len(site_id) > ID_MAX:
        return False
    found = await session.scalar(select(Site.id).where(Site.id == site_id, Site.customer_id == customer_id))
    return found is not None


async def _site_by_key(session: AsyncSession, customer_id: str, key: str) -> Site | None:
    return await session.scalar(select(Site).where(Site.customer_id == customer_id, Site.idempotency_key == key))
