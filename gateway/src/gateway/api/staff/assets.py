"""Staff JSON API for assets and sites (SPEC A1–A3): a customer's assets (search, site filter, retired ones on
request) and sites; create (Idempotency-Key), edit every field including the custom fields and their
customer-editable flags, move between the customer's sites (`site_id`), retire / bring back; delete and CSV import
for admins only (the assets service refuses a technician); a site is deleted only when no asset stands on it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.staff import Id
from gateway.areas import assets as rules
from gateway.clients.schemas import Asset, CustomField, Site

router = APIRouter(prefix="/api/v1/staff", tags=["staff: assets"], responses=problems(400, 401, 403, 404, 503))

KEY_HELP = "Repeat the same key to get the first request's record instead of a second one."
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", max_length=150, description=KEY_HELP)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=rules.NAME_MAX)]
RefId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=36)]
Notes = Annotated[str, StringConstraints(max_length=rules.NOTES_MAX)]
Address = Annotated[str, StringConstraints(max_length=rules.ADDRESS_MAX)]


class StaffAssetPage(BaseModel):
    items: list[Asset]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class StaffSitePage(BaseModel):
    items: list[Site]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class NewAsset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.NAME_MAX)]
    serial_number: Line = ""
    asset_type: Line = ""
    site_id: RefId = Field("", description="One of the customer's sites")
    contact_id: RefId = Field("", description="The contact the device belongs to (their View Mine shows it)")
    notes: Notes = ""
    custom_fields: list[CustomField] = Field(default_factory=list, max_length=rules.CUSTOM_FIELDS_MAX)


class AssetEdit(BaseModel):
    """Absent fields stay as they are; `custom_fields`, when given, replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    name: Line | None = None
    serial_number: Line | None = None
    asset_type: Line | None = None
    site_id: RefId | None = Field(None, description='Move to another of the customer\'s sites; "" for none')
    contact_id: RefId | None = None
    notes: Notes | None = None
    custom_fields: list[CustomField] | None = Field(None, max_length=rules.CUSTOM_FIELDS_MAX)
    custom_field_values: dict[str, str] = Field(default_factory=dict, description="Values of existing fields by name")


class Retire(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retired: bool = Field(True, description="False brings a retired asset back")


class ImportRowError(BaseModel):
    row: int = Field(description="1 is the first row after the header")
    field: str
    detail: str


class ImportResult(BaseModel):
    created: list[Asset] = Field(description="Empty when there are errors: nothing was created")
    errors: list[ImportRowError]
    sites_created: int


class NewSite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.SITE_NAME_MAX)]
    address: Address = ""


class SiteEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line | None = None
    address: Address | None = None


@router.get("/customers/{customer_id}/assets")
async def list_customer_assets(
    customer_id: Id,
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
    q: Annotated[str, Query(max_length=rules.QUERY_MAX, description="Text in the name or the serial number")] = "",
    site_id: Annotated[str, Query(max_length=36)] = "",
    include_retired: bool = False,
) -> StaffAssetPage:
    """The customer's assets by name."""
    page = await backends.assets.list_assets(
        session.principal_token,
        page_size=page_size,
        cursor=cursor,
        query=q,
        site_id=site_id,
        customer_id=customer_id,
        include_retired=include_retired,
    )
    return StaffAssetPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/customers/{customer_id}/assets", status_code=status.HTTP_201_CREATED)
async def create_asset(
    customer_id: Id,
    body: NewAsset,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = "",
) -> Asset:
    """Add a device to the customer (either staff role)."""
    await rules.require_customer(backends, session.principal_token, customer_id)
    asset = await backends.assets.create_asset(
        session.principal_token,
        customer_id=customer_id,
        idempotency_key=idempotency_key,
        **{name: getattr(body, name) for name in NewAsset.model_fields},
    )
    response.headers["Location"] = f"/api/v1/staff/assets/{asset.id}"
    return asset


@router.post("/customers/{customer_id}/assets/import", responses=problems(413))
async def import_assets(
    customer_id: Id,
    file: UploadFile,
    session: StaffApiSession,
    backends: Clients,
    idempotency_key: IdempotencyKey = "",
) -> ImportResult:
    """Admins: a CSV (header row: name, serial, type, site, contact, notes, then any custom field columns) for
    onboarding. Every row is created, or none: then `errors` lists each bad row."""
    data = await file.read(rules.CSV_MAX_BYTES + 1)
    if len(data) > rules.CSV_MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the CSV must be at most {rules.CSV_MAX_BYTES} bytes")
    await rules.require_customer(backends, session.principal_token, customer_id)
    result = await backends.assets.import_csv(
        session.principal_token, customer_id=customer_id, data=data, idempotency_key=idempotency_key
    )
    return ImportResult(
        created=result.assets,
        errors=[ImportRowError(row=e.row, field=e.field, detail=e.detail) for e in result.errors],
        sites_created=result.sites_created,
    )


@router.get("/assets/{asset_id}")
async def get_asset(asset_id: Id, session: StaffApiSession, backends: Clients) -> Asset:
    """One asset, retired or not."""
    return await backends.assets.get_asset(session.principal_token, asset_id)


@router.patch("/assets/{asset_id}")
async def edit_asset(asset_id: Id, body: AssetEdit, session: StaffApiSession, backends: Clients) -> Asset:
    """Change any field; `site_id` moves the asset to another of the customer's sites."""
    changes = {
        k: v for k, v in body.model_dump(exclude={"custom_fields", "custom_field_values"}).items() if v is not None
    }
    return await backends.assets.update_asset(
        session.principal_token,
        asset_id,
        changes=changes,
        custom_fields=body.custom_fields,
        custom_field_values=body.custom_field_values,
    )


@router.post("/assets/{asset_id}/retire")
async def retire_asset(asset_id: Id, body: Retire, session: StaffApiSession, backends: Clients) -> Asset:
    """Retire the asset (kept with its tickets, off the portal's list) or bring it back."""
    return await backends.assets.retire_asset(session.principal_token, asset_id, retired=body.retired)


@router.delete("/assets/{asset_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_asset(asset_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Admins: remove the asset for good."""
    await backends.assets.delete_asset(session.principal_token, asset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/customers/{customer_id}/sites")
async def list_customer_sites(
    customer_id: Id,
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
) -> StaffSitePage:
    """The customer's sites by name."""
    page = await backends.assets.list_sites(
        session.principal_token, page_size=page_size, cursor=cursor, customer_id=customer_id
    )
    return StaffSitePage(items=page.items, next_cursor=page.next_cursor)


@router.post("/customers/{customer_id}/sites", status_code=status.HTTP_201_CREATED)
async def create_site(
    customer_id: Id,
    body: NewSite,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = "",
) -> Site:
    """Add a location to the customer (either staff role)."""
    await rules.require_customer(backends, session.principal_token, customer_id)
    site = await backends.assets.create_site(
        session.principal_token,
        customer_id=customer_id,
        name=body.name,
        address=body.address,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/api/v1/staff/sites/{site.id}"
    return site


@router.get("/sites/{site_id}")
async def get_site(site_id: Id, session: StaffApiSession, backends: Clients) -> Site:
    """One site; its assets are `GET /api/v1/staff/customers/{customer_id}/assets?site_id=…`."""
    return await backends.assets.get_site(session.principal_token, site_id)


@router.patch("/sites/{site_id}")
async def edit_site(site_id: Id, body: SiteEdit, session: StaffApiSession, backends: Clients) -> Site:
    """Rename the site or change its address."""
    return await backends.assets.update_site(session.principal_token, site_id, name=body.name, address=body.address)


@router.delete("/sites/{site_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(409))
async def delete_site(site_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    """Admins: remove a site no asset stands on (409 otherwise, saying how many do)."""
    await backends.assets.delete_site(session.principal_token, site_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
