"""Assets and sites in the portal's JSON API (/api/v1/assets…, /api/v1/sites…; SPEC A1–A3): list with search,
Mine / All and a site filter, read one, change the custom fields staff marked customer-editable. An asset's or a
site's tickets are `GET /api/v1/tickets?asset_id=…` / `?site_id=…`.

A change of any other field is passed to the assets service as asked and refused there (403 naming the field), so
the rule holds for every client, not only for this API."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.areas import assets as rules
from gateway.clients.schemas import Asset, Site

router = APIRouter(prefix="/api/v1", tags=["assets"], responses=problems(400, 401, 403, 503))

RecordId = Annotated[str, Path(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=rules.NOTES_MAX)]


class AssetPage(BaseModel):
    items: list[Asset]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class SitePage(BaseModel):
    items: list[Site]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class AssetChange(BaseModel):
    """What a customer changes on an asset: `custom_field_values` of fields marked editable_by_customer. The other
    fields are staff's; sending one is refused with 403 and the field's name."""

    model_config = ConfigDict(extra="forbid")

    custom_field_values: dict[
        Annotated[str, StringConstraints(max_length=rules.FIELD_NAME_MAX)],
        Annotated[str, StringConstraints(max_length=rules.FIELD_VALUE_MAX)],
    ] = Field(default_factory=dict, max_length=rules.CUSTOM_FIELDS_MAX)
    name: Text | None = None
    serial_number: Text | None = None
    asset_type: Text | None = None
    site_id: Text | None = None
    contact_id: Text | None = None
    notes: Text | None = None


@router.get("/assets")
async def list_assets(
    session: CurrentSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
    q: Annotated[str, Query(max_length=rules.QUERY_MAX, description="Text in the name or the serial number")] = "",
    scope: Annotated[
        Literal["all", "mine"], Query(description="mine: only your own contact's (View Mine sees only those anyway)")
    ] = "all",
    site_id: Annotated[str, Query(max_length=64, description="Only the assets at this site of yours")] = "",
) -> AssetPage:
    """The assets you may see by name (Assets - View All: the customer's; View Mine: your own), retired ones left
    out."""
    page = await backends.assets.list_assets(
        session.principal_token,
        page_size=page_size,
        cursor=cursor,
        query=q,
        mine_only=rules.mine_only(session.principal, scope),
        site_id=site_id,
    )
    return AssetPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/assets/{asset_id}", responses=problems(404))
async def get_asset(asset_id: RecordId, session: CurrentSession, backends: Clients) -> Asset:
    """One asset with its custom fields; another customer's asset (or, for View Mine, a colleague's) is 404."""
    return await backends.assets.get_asset(session.principal_token, asset_id)


@router.patch("/assets/{asset_id}", responses=problems(404))
async def change_asset(asset_id: RecordId, body: AssetChange, session: CurrentSession, backends: Clients) -> Asset:
    """Change the values of custom fields staff marked editable_by_customer. Any other field, or a custom field
    not marked editable, is refused with 403 and nothing changes."""
    changes = {k: v for k, v in body.model_dump(exclude={"custom_field_values"}).items() if v is not None}
    return await backends.assets.update_asset(
        session.principal_token, asset_id, changes=changes, custom_field_values=body.custom_field_values
    )


@router.get("/sites")
async def list_sites(
    session: CurrentSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
) -> SitePage:
    """Your customer's sites (locations) by name; needs Assets - View All or View Mine."""
    page = await backends.assets.list_sites(session.principal_token, page_size=page_size, cursor=cursor)
    return SitePage(items=page.items, next_cursor=page.next_cursor)


@router.get("/sites/{site_id}", responses=problems(404))
async def get_site(site_id: RecordId, session: CurrentSession, backends: Clients) -> Site:
    """One of your sites; another customer's is 404. Its assets: `GET /api/v1/assets?site_id=…`."""
    return await backends.assets.get_site(session.principal_token, site_id)
