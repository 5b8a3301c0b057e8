"""Sites, and the reference check other services make before storing a site or asset id. Functions take the
caller's session and never commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assets.assets.models import Asset
from assets.sites.models import Site
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.principal import Principal

ID_MAX = 36
NAME_MAX = 200
ADDRESS_MAX = 500


@dataclass(frozen=True)
class RefCheck:
    site_ok: bool
    asset_ok: bool


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff manage sites and assets")


async def create_site(
    session: AsyncSession, *, principal: Principal, customer_id: str, name: str, address: str = ""
) -> Site:
    """Staff add a location to a customer."""
    require_staff(principal)
    site = Site(
        customer_id=_id(customer_id, field="customer_id", required=True),
        name=_text(name, field="name", limit=NAME_MAX, required=True),
        address=_text(address, field="address", limit=ADDRESS_MAX),
    )
    session.add(site)
    await session.flush()
    return site


async def create_asset(
    session: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    name: str,
    site_id: str = "",
    contact_id: str = "",
    serial_number: str = "",
    asset_type: str = "",
) -> Asset:
    """Staff add a device to a customer; its site, when given, must be one of that customer's."""
    require_staff(principal)
    customer_id = _id(customer_id, field="customer_id", required=True)
    site_id = _id(site_id, field="site_id")
    if site_id and not await _site_of(session, customer_id, site_id):
        raise InvalidArgument("no such site for this customer", field="site_id")
    asset = Asset(
        customer_id=customer_id,
        name=_text(name, field="name", limit=NAME_MAX, required=True),
        site_id=site_id or None,
        contact_id=_id(contact_id, field="contact_id") or None,
        serial_number=_text(serial_number, field="serial_number", limit=100),
        asset_type=_text(asset_type, field="asset_type", limit=50),
    )
    session.add(asset)
    await session.flush()
    return asset


async def check_customer_refs(
    session: AsyncSession, *, principal: Principal, customer_id: str, site_id: str = "", asset_id: str = ""
) -> RefCheck:
    """Whether the site and the asset (each optional) belong to the customer. Portal users may only ask about
    customers their scope covers, so the answer never tells them anything about another customer."""
    customer_id = _id(customer_id, field="customer_id", required=True)
    if not principal.is_staff:
        covered = {principal.customer_id, *principal.customer_ids} - {""}
        if customer_id not in covered:
            raise PermissionDenied("you may only check references of your own customer")
    site_ok = not site_id or await _site_of(session, customer_id, site_id)
    asset_ok = not asset_id or bool(
        await session.scalar(select(Asset.id).where(Asset.id == asset_id, Asset.customer_id == customer_id))
    )
    return RefCheck(site_ok=site_ok, asset_ok=asset_ok)


async def _site_of(session: AsyncSession, customer_id: str, site_id: str) -> bool:
    if len(site_id) > ID_MAX:
        return False
    found = await session.scalar(select(Site.id).where(Site.id == site_id, Site.customer_id == customer_id))
    return found is not None


def _id(value: str, *, field: str, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{field} is required", field=field)
    if len(value) > ID_MAX or "\x00" in value:
        raise InvalidArgument(f"{field} is not a valid id", field=field)
    return value


def _text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    value = " ".join(value.split())
    if required and not value:
        raise InvalidArgument(f"a {field.replace('_', ' ')} is required", field=field)
    if len(value) > limit or "\x00" in value:
        raise InvalidArgument(f"the {field.replace('_', ' ')} must be at most {limit} characters", field=field)
    return value
