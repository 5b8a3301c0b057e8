"""Asset rules (SPEC A1, A2): who sees which assets, what a valid asset is, what a customer may change.
Functions take the caller's session or read connection and never commit.

Custom fields are per asset: staff add `{name, value, editable_by_customer}` entries to an asset (no per-operator
definitions to manage first). A portal user who may see an asset may change the value of the entries staff marked
editable_by_customer, and nothing else; the service refuses any other field with PERMISSION_DENIED naming it.
Staff of either role create, edit, move, retire and bring back assets (technicians work customers' devices); only
an admin deletes one or imports a CSV.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from assets.assets.models import Asset
from assets.checks import ID_MAX, clean_id, clean_key, clean_text, require_admin, require_staff
from assets.events import publish
from assets.sites.service import site_of
from servicekit.db import utcnow
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, visibility

NAME_MAX = 200
SERIAL_MAX = 100
TYPE_MAX = 50
NOTES_MAX = 5_000
QUERY_MAX = 200
CUSTOM_FIELDS_MAX = 30
FIELD_NAME_MAX = 60
FIELD_VALUE_MAX = 1_000
# The fields UpdateAsset may set besides the custom fields; customers may set none of them.
STAFF_FIELDS = ("name", "serial_number", "asset_type", "site_id", "contact_id", "notes")


@dataclass(frozen=True)
class AssetPage:
    # Rows of the assets table (attribute access like the model's), not ORM objects: see `list_assets`.
    assets: list[Row]
    next_cursor: str


async def list_assets(
    conn: AsyncConnection | AsyncSession,
    *,
    principal: Principal,
    page_size: int,
    cursor: str = "",
    query: str = "",
    mine_only: bool = False,
    site_id: str = "",
    customer_id: str = "",
    include_retired: bool = False,
) -> AssetPage:
    """The assets the principal may see, by name (name, id), one keyset page, narrowed by the filters.

    A Core select of the table, built once per shape, so it runs on `Database.read()`'s plain connection: the
    portal home calls it on every visit, and ORM objects and a freshly built statement each cost more CPU
    than the query itself. Retired assets are listed only to staff who ask for them.
    """
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    after = keyset(cursor, key=str)
    params: dict[str, object] = {"limit": page_size + 1}
    customers = scope.customer_ids
    if customer_id:
        customer_id = clean_id(customer_id, field="customer_id")
        customers = (customer_id,) if customers is None or customer_id in customers else ()
    if customers is not None:
        params["customer_ids"] = list(customers)
    contact_id = scope.contact_id
    if mine_only and not principal.is_staff:
        contact_id = principal.contact_id
    if contact_id is not None:
        params["contact_id"] = contact_id
    if site_id:
        params["site_id"] = clean_id(site_id, field="site_id")
    query = " ".join(query.split()).lower()
    if len(query) > QUERY_MAX:
        raise InvalidArgument(f"the search must be at most {QUERY_MAX} characters", field="query")
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{escaped}%"
    if after is not None:
        params["after_name"], params["after_id"] = after
    shape = (
        customers is not None,
        contact_id is not None,
        bool(site_id),
        bool(query),
        not (include_retired and principal.is_staff),
        after is not None,
    )
    rows = (await conn.execute(_page_query(*shape), params)).all()
    page, more = rows[:page_size], len(rows) > page_size
    return AssetPage(page, keyset_cursor(page[-1].name, page[-1].id) if more else "")


@functools.cache
def _page_query(
    by_customer: bool, by_contact: bool, by_site: bool, search: bool, active_only: bool, after: bool
) -> Select:
    query = select(Asset.__table__)
    if by_customer:
        query = query.where(Asset.customer_id.in_(bindparam("customer_ids", expanding=True)))
    if by_contact:
        query = query.where(Asset.contact_id == bindparam("contact_id"))
    if by_site:
        query = query.where(Asset.site_id == bindparam("site_id"))
    if search:
        pattern = bindparam("pattern")
        query = query.where(
            or_(
                func.lower(Asset.name).like(pattern, escape="\\"),
                func.lower(Asset.serial_number).like(pattern, escape="\\"),
            )
        )
    if active_only:
        query = query.where(Asset.retired_at.is_(None))
    if after:
        query = query.where(tuple_(Asset.name, Asset.id) > tuple_(bindparam("after_name"), bindparam("after_id")))
    return query.order_by(Asset.name, Asset.id).limit(bindparam("limit"))


async def get_asset(session: AsyncSession, *, principal: Principal, asset_id: str) -> Asset:
    """An asset the principal may see (retired ones too); an unknown or another customer's id is NOT_FOUND alike,
    and so is a colleague's asset for a View Mine user."""
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    asset = await session.get(Asset, asset_id) if 0 < len(asset_id) <= ID_MAX else None
    if asset is None or not scope.allows(asset.customer_id, asset.contact_id or ""):
        raise NotFound("no such asset")
    return asset


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
    notes: str = "",
    custom_fields: Sequence[Mapping[str, Any]] = (),
    idempotency_key: str = "",
) -> Asset:
    """Staff add a device to a customer; its site, when given, must be one of that customer's. A repeat with the
    same idempotency key answers the first asset."""
    require_staff(principal)
    customer_id = clean_id(customer_id, field="customer_id", required=True)
    key = clean_key(idempotency_key)
    if key and (done := await _asset_by_key(session, customer_id, key)):
        return done
    asset = await _new_asset(
        session,
        customer_id=customer_id,
        name=name,
        site_id=site_id,
        contact_id=contact_id,
        serial_number=serial_number,
        asset_type=asset_type,
        notes=notes,
        custom_fields=custom_fields,
        idempotency_key=key,
    )
    await publish.asset_created(session, asset, by=principal)
    return asset


async def _new_asset(
    session: AsyncSession,
    *,
    customer_id: str,
    name: str,
    site_id: str,
    contact_id: str,
    serial_number: str,
    asset_type: str,
    notes: str,
    custom_fields: Sequence[Mapping[str, Any]],
    idempotency_key: str | None,
) -> Asset:
    site_id = clean_id(site_id, field="site_id")
    if site_id and not await site_of(session, customer_id, site_id):
        raise InvalidArgument("no such site for this customer", field="site_id")
    asset = Asset(
        customer_id=customer_id,
        name=clean_text(name, field="name", limit=NAME_MAX, required=True),
        site_id=site_id or None,
        contact_id=clean_id(contact_id, field="contact_id") or None,
        serial_number=clean_text(serial_number, field="serial_number", limit=SERIAL_MAX),
        asset_type=clean_text(asset_type, field="asset_type", limit=TYPE_MAX),
        notes=clean_text(notes, field="notes", limit=NOTES_MAX, multiline=True),
        custom_fields=clean_custom_fields(custom_fields),
        idempotency_key=idempotency_key,
    )
    session.add(asset)
    await session.flush()
    return asset


def clean_custom_fields(fields: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Staff's custom fields checked: each named (unique, case-insensitively), value and name bounded."""
    if len(fields) > CUSTOM_FIELDS_MAX:
        raise InvalidArgument(f"an asset has at most {CUSTOM_FIELDS_MAX} custom fields", field="custom_fields")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for f in fields:
        name = clean_text(str(f.get("name", "")), field="custom_fields", limit=FIELD_NAME_MAX, required=True)
        if name.lower() in seen:
            raise InvalidArgument(f"the custom field '{name}' is listed twice", field="custom_fields")
        seen.add(name.lower())
        value = _field_value(str(f.get("value", "")), name)
        out.append({"name": name, "value": value, "editable_by_customer": bool(f.get("editable_by_customer"))})
    return out


def _field_value(value: str, name: str) -> str:
    value = value.strip()
    if len(value) > FIELD_VALUE_MAX or "\x00" in value:
        raise InvalidArgument(
            f"the value of '{name}' must be at most {FIELD_VALUE_MAX} characters", field="custom_field_values"
        )
    return value


async def update_asset(
    session: AsyncSession,
    *,
    principal: Principal,
    asset_id: str,
    changes: Mapping[str, str],
    custom_fields: Sequence[Mapping[str, Any]] | None = None,
    custom_field_values: Mapping[str, str] | None = None,
) -> Asset:
    """Change an asset. `changes` holds the staff fields given (STAFF_FIELDS); `custom_fields` replaces the list
    (staff); `custom_field_values` sets values of existing custom fields by name. A portal user may only set
    values of fields marked editable_by_customer."""
    asset = await get_asset(session, principal=principal, asset_id=asset_id)
    values = dict(custom_field_values or {})
    if not principal.is_staff:
        refused = [name for name in STAFF_FIELDS if name in changes]
        if custom_fields is not None:
            refused.append("custom_fields")
        if refused:
            raise PermissionDenied(
                f"customers may only change custom fields staff marked editable; not {', '.join(refused)}",
                field=refused[0],
            )
        editable = {f["name"] for f in asset.custom_fields if f.get("editable_by_customer")}
        known = {f["name"] for f in asset.custom_fields}
        for name in values:
            if name not in known:
                raise InvalidArgument(f"the asset has no custom field '{name}'", field="custom_field_values")
            if name not in editable:
                raise PermissionDenied(
                    f"the custom field '{name}' is not editable by customers", field="custom_field_values"
                )
    changed: list[str] = []
    for name in STAFF_FIELDS:
        if name not in changes:
            continue
        new = await _staff_value(session, asset, name, changes[name])
        if new != getattr(asset, name):
            setattr(asset, name, new)
            changed.append(name)
    fields = [dict(f) for f in asset.custom_fields]
    if custom_fields is not None:
        replaced = clean_custom_fields(custom_fields)
        if replaced != fields:
            changed.append("custom_fields")
        fields = replaced
    by_name = {f["name"]: f for f in fields}
    for name, value in values.items():
        field = by_name.get(name)
        if field is None:
            raise InvalidArgument(f"the asset has no custom field '{name}'", field="custom_field_values")
        value = _field_value(value, name)
        if field["value"] != value:
            field["value"] = value
            changed.append(f"custom:{name}")
    if fields != asset.custom_fields:
        asset.custom_fields = fields  # a new list, so the JSON column is written
    if changed:
        await session.flush()
        await publish.asset_updated(session, asset, changed=changed, by=principal)
    return asset


async def _staff_value(session: AsyncSession, asset: Asset, name: str, value: str) -> str | None:
    if name == "name":
        return clean_text(value, field="name", limit=NAME_MAX, required=True)
    if name == "serial_number":
        return clean_text(value, field="serial_number", limit=SERIAL_MAX)
    if name == "asset_type":
        return clean_text(value, field="asset_type", limit=TYPE_MAX)
    if name == "notes":
        return clean_text(value, field="notes", limit=NOTES_MAX, multiline=True)
    if name == "contact_id":
        return clean_id(value, field="contact_id") or None
    site_id = clean_id(value, field="site_id")
    if site_id and not await site_of(session, asset.customer_id, site_id):
        raise InvalidArgument("no such site for this customer", field="site_id")
    return site_id or None


async def retire_asset(session: AsyncSession, *, principal: Principal, asset_id: str, retired: bool) -> Asset:
    """Staff retire an asset (kept, with its tickets; off the portal's list) or bring it back."""
    require_staff(principal)
    asset = await get_asset(session, principal=principal, asset_id=asset_id)
    if (asset.retired_at is not None) != retired:
        asset.retired_at = utcnow() if retired else None
        await session.flush()
        await publish.asset_retired(session, asset, by=principal)
    return asset


async def delete_asset(session: AsyncSession, *, principal: Principal, asset_id: str) -> None:
    """An admin removes an asset for good (tickets keep its id, which then names nothing)."""
    require_staff(principal)
    asset = await get_asset(session, principal=principal, asset_id=asset_id)
    require_admin(principal, "delete an asset")
    await session.delete(asset)
    await session.flush()


async def _asset_by_key(session: AsyncSession, customer_id: str, key: str) -> Asset | None:
    return await session.scalar(select(Asset).where(Asset.customer_id == customer_id, Asset.idempotency_key == key))
