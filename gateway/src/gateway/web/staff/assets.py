"""The staff console's assets and sites (SPEC A1–A3): a customer's "Assets and sites" tab (its sites, its assets with
search and retired ones on request, forms to add either, CSV import with per-row errors), an asset's page (edit
every field and its custom fields with their customer-editable flags, move to another of the customer's sites,
retire / bring back, delete after a confirmation) and a site's page (edit, its assets and tickets, delete after a
confirmation, refused while assets stand on it).

Technicians do all of it but delete and import, which the assets service keeps for admins (the pages only hide the
buttons from technicians)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from gateway.areas import assets as rules
from gateway.clients import Backends
from gateway.clients.assets import ImportResult
from gateway.clients.schemas import Asset, CustomField, Site
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field
from gateway.web.render import Pages
from gateway.web.staff.remote import asset_section as remote_section
from gateway.web.staff.tickets import staff_status
from gateway.web.views import status_class
from gateway.web.views.assets import asset_row

router = APIRouter(prefix="/staff", include_in_schema=False)

SITES_SHOWN = 100
BLANK_FIELD_ROWS = 2
FORM_FIELDS_MAX = 150
_REFUSALS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS,
)
_DONE = {
    "site_added",
    "asset_added",
    "saved",
    "retired",
    "reactivated",
    "deleted",
    "site_deleted",
    "imported",
    "requested",
    "revoked",
}


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


async def _form(request: Request):  # noqa: ANN202 - starlette FormData
    """The posted form, CSRF-checked; room for an asset's custom field rows (3 inputs each)."""
    limit = request.app.state.settings.max_body_bytes
    form = await request.form(max_files=1, max_fields=FORM_FIELDS_MAX, max_part_size=limit)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return form


def _refusal(err: grpc.aio.AioRpcError) -> str:
    """The service's reason for a refused change, shown on the page; other errors go to the error handler."""
    if err.code() not in _REFUSALS:
        raise err
    name, detail = split_field(err.details() or "")
    return f"{name}: {detail}" if name else detail


def _custom_fields(form) -> list[CustomField]:  # noqa: ANN001
    """The custom field rows of a form (cf_name_N, cf_value_N, cf_edit_N); a row without a name is dropped."""
    out = []
    for i in range(rules.CUSTOM_FIELDS_MAX + BLANK_FIELD_ROWS):
        name = field(form, f"cf_name_{i}").strip()
        if name:
            out.append(
                CustomField(
                    name=name, value=field(form, f"cf_value_{i}"), editable_by_customer=bool(form.get(f"cf_edit_{i}"))
                )
            )
    return out


async def _contacts(request: Request, session: Session, customer_id: str) -> list:
    try:
        return await _backends(request).identity.list_contacts(session.principal_token, customer_id)
    except grpc.aio.AioRpcError:
        return []


async def _sites(request: Request, session: Session, customer_id: str) -> list[Site]:
    page = await _backends(request).assets.list_sites(
        session.principal_token, customer_id=customer_id, page_size=SITES_SHOWN
    )
    return page.items


def _ticket_rows(t, tickets) -> list[dict] | None:  # noqa: ANN001
    if tickets is None:
        return None
    return [
        {
            "id": tk.id,
            "number": tk.number,
            "subject": tk.subject,
            "status": staff_status(t, tk.status),
            "status_class": status_class(tk.status),
            "created": t.datetime(tk.created_at),
        }
        for tk in tickets.items
    ]


# --- the customer's tab ------------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/assets")
async def customer_assets(request: Request, customer_id: str, session: StaffPage) -> Response:
    return await _customer_tab(request, session, customer_id[:64])


async def _customer_tab(
    request: Request,
    session: Session,
    customer_id: str,
    *,
    error: str = "",
    imported: ImportResult | None = None,
    site_form: dict | None = None,
    asset_form: dict | None = None,
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    try:
        customer = await backends.identity.get_customer(token, customer_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    qp = request.query_params
    query = " ".join(qp.get("q", "").split())[: rules.QUERY_MAX]
    retired = qp.get("retired") == "1"
    cursor = qp.get("cursor", "")[:512]
    sites, contacts = await asyncio.gather(
        _sites(request, session, customer_id), _contacts(request, session, customer_id)
    )
    try:
        page = await backends.assets.list_assets(
            token,
            page_size=rules.PAGE_SIZE,
            cursor=cursor,
            query=query,
            customer_id=customer_id,
            include_retired=retired,
        )
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        cursor = ""
        page = await backends.assets.list_assets(
            token, page_size=rules.PAGE_SIZE, query=query, customer_id=customer_id, include_retired=retired
        )
    names = {s.id: s.name for s in sites}
    base = [*([("q", query)] if query else []), *([("retired", "1")] if retired else [])]
    here = f"/staff/customers/{quote(customer_id, safe='')}/assets"
    done = qp.get("done", "")
    return pages.render(
        request,
        "staff/assets/customer.html",
        {
            "c": customer,
            "sites": sites,
            "contacts": contacts,
            "rows": [asset_row(t, a, names) for a in page.items],
            "query": query,
            "retired": retired,
            "next_href": f"{here}?" + urlencode([*base, ("cursor", page.next_cursor)]) if page.next_cursor else "",
            "first_href": f"{here}?" + urlencode(base) if cursor else "",
            "is_admin": session.principal.is_admin,
            "site_form": site_form or {"name": "", "address": "", "idempotency_key": new_key()},
            "asset_form": asset_form or _blank_asset_form(),
            "imported": imported,
            "error": error,
            "done": t(f"staff.assets.done.{done}") if done in _DONE else "",
            "limits": _limits(),
        },
        session=session,
        status_code=status_code,
    )


def _limits() -> dict[str, int]:
    return {
        "name": rules.NAME_MAX,
        "serial": rules.SERIAL_MAX,
        "type": rules.TYPE_MAX,
        "notes": rules.NOTES_MAX,
        "field_name": rules.FIELD_NAME_MAX,
        "field_value": rules.FIELD_VALUE_MAX,
        "address": rules.ADDRESS_MAX,
        "csv": rules.CSV_MAX_BYTES // 1024,
    }


def _blank_asset_form() -> dict:
    return {
        "name": "",
        "serial_number": "",
        "asset_type": "",
        "site_id": "",
        "contact_id": "",
        "notes": "",
        "custom_fields": [],
        "idempotency_key": new_key(),
    }


def _key(form) -> str:  # noqa: ANN001
    key = field(form, "idempotency_key")
    return key if IDEMPOTENCY_KEY.match(key) else new_key()


@router.post("/customers/{customer_id}/sites")
async def add_site(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    values = {"name": field(form, "name"), "address": field(form, "address"), "idempotency_key": _key(form)}
    try:
        await _backends(request).assets.create_site(session.principal_token, customer_id=customer_id[:64], **values)
    except grpc.aio.AioRpcError as err:
        return await _customer_tab(
            request, session, customer_id[:64], error=_refusal(err), site_form=values, status_code=400
        )
    return RedirectResponse(f"/staff/customers/{quote(customer_id, safe='')}/assets?done=site_added", 303)


@router.post("/customers/{customer_id}/assets")
async def add_asset(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    values = {
        name: field(form, name) for name in ("name", "serial_number", "asset_type", "site_id", "contact_id", "notes")
    }
    fields = _custom_fields(form)
    key = _key(form)
    try:
        asset = await _backends(request).assets.create_asset(
            session.principal_token, customer_id=customer_id[:64], custom_fields=fields, idempotency_key=key, **values
        )
    except grpc.aio.AioRpcError as err:
        kept = {**values, "custom_fields": fields, "idempotency_key": key}
        return await _customer_tab(
            request, session, customer_id[:64], error=_refusal(err), asset_form=kept, status_code=400
        )
    return RedirectResponse(f"/staff/assets/{quote(asset.id, safe='')}?done=asset_added", 303)


@router.post("/customers/{customer_id}/assets/import")
async def import_assets(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    t = _pages(request).translator(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _customer_tab(
            request, session, customer_id[:64], error=t("staff.assets.import.no_file"), status_code=400
        )
    data = await upload.read(rules.CSV_MAX_BYTES + 1)
    if len(data) > rules.CSV_MAX_BYTES:
        error = t("staff.assets.import.too_big", max=rules.CSV_MAX_BYTES // 1024)
        return await _customer_tab(request, session, customer_id[:64], error=error, status_code=400)
    try:
        result = await _backends(request).assets.import_csv(
            session.principal_token, customer_id=customer_id[:64], data=data, idempotency_key=_key(form)
        )
    except grpc.aio.AioRpcError as err:
        return await _customer_tab(request, session, customer_id[:64], error=_refusal(err), status_code=400)
    return await _customer_tab(
        request, session, customer_id[:64], imported=result, status_code=400 if result.errors else 200
    )


# --- an asset ------------------------------------------------------------------------------------------------------


async def _asset_page(
    request: Request,
    session: Session,
    asset: Asset,
    *,
    error: str = "",
    form: dict | None = None,
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    customer, sites, contacts, tickets, remote = await asyncio.gather(
        backends.identity.get_customer(token, asset.customer_id),
        _sites(request, session, asset.customer_id),
        _contacts(request, session, asset.customer_id),
        rules.tickets_of(backends, token, session.principal, asset_id=asset.id),
        remote_section(request, session, asset),
    )
    done = request.query_params.get("done", "")
    current = form or {
        "name": asset.name,
        "serial_number": asset.serial_number,
        "asset_type": asset.asset_type,
        "site_id": asset.site_id,
        "contact_id": asset.contact_id,
        "notes": asset.notes,
        "custom_fields": asset.custom_fields,
    }
    return pages.render(
        request,
        "staff/assets/asset.html",
        {
            "a": asset,
            "c": customer,
            "form": current,
            "field_rows": list(current["custom_fields"]) + [None] * BLANK_FIELD_ROWS,
            "sites": sites,
            "site_name": next((s.name for s in sites if s.id == asset.site_id), ""),
            "contacts": contacts,
            "retired": t.datetime(asset.retired_at) if asset.retired_at else "",
            "tickets": _ticket_rows(t, tickets),
            "is_admin": session.principal.is_admin,
            "error": error,
            "done": t(f"staff.assets.done.{done}") if done in _DONE else "",
            "limits": _limits(),
            "remote": remote,
        },
        session=session,
        status_code=status_code,
    )


@router.get("/assets/{asset_id}")
async def asset_page(request: Request, asset_id: str, session: StaffPage) -> Response:
    asset = await _backends(request).assets.get_asset(session.principal_token, asset_id[:64])
    return await _asset_page(request, session, asset)


@router.post("/assets/{asset_id}")
async def save_asset(request: Request, asset_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    backends, token = _backends(request), session.principal_token
    changes = {
        name: field(form, name) for name in ("name", "serial_number", "asset_type", "site_id", "contact_id", "notes")
    }
    fields = _custom_fields(form)
    try:
        asset = await backends.assets.update_asset(token, asset_id[:64], changes=changes, custom_fields=fields)
    except grpc.aio.AioRpcError as err:
        error = _refusal(err)
        asset = await backends.assets.get_asset(token, asset_id[:64])
        return await _asset_page(
            request, session, asset, error=error, form={**changes, "custom_fields": fields}, status_code=400
        )
    return RedirectResponse(f"/staff/assets/{quote(asset.id, safe='')}?done=saved", 303)


@router.post("/assets/{asset_id}/retire")
async def retire_asset(request: Request, asset_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    retired = field(form, "retired") == "1"
    asset = await _backends(request).assets.retire_asset(session.principal_token, asset_id[:64], retired=retired)
    done = "retired" if retired else "reactivated"
    return RedirectResponse(f"/staff/assets/{quote(asset.id, safe='')}?done={done}", 303)


def _delete_page(
    request: Request, session: Session, kind: str, name: str, path: str, *, error: str = "", status_code: int = 200
) -> Response:
    """The confirmation before deleting an asset or a site (and the refusal, when the service says no)."""
    context = {"kind": kind, "name": name, "action": f"{path}/delete", "back": path, "error": error}
    return _pages(request).render(
        request, "staff/assets/delete.html", context, session=session, status_code=status_code
    )


@router.get("/assets/{asset_id}/delete")
async def delete_asset_confirm(request: Request, asset_id: str, session: StaffPage) -> Response:
    asset = await _backends(request).assets.get_asset(session.principal_token, asset_id[:64])
    return _delete_page(request, session, "asset", asset.name, f"/staff/assets/{asset.id}")


@router.post("/assets/{asset_id}/delete")
async def delete_asset(request: Request, asset_id: str, session: StaffPage) -> Response:
    await _form(request)
    backends, token = _backends(request), session.principal_token
    asset = await backends.assets.get_asset(token, asset_id[:64])
    try:
        await backends.assets.delete_asset(token, asset.id)
    except grpc.aio.AioRpcError as err:
        return _delete_page(
            request, session, "asset", asset.name, f"/staff/assets/{asset.id}", error=_refusal(err), status_code=403
        )
    return RedirectResponse(f"/staff/customers/{quote(asset.customer_id, safe='')}/assets?done=deleted", 303)


# --- a site --------------------------------------------------------------------------------------------------------


async def _site_page(
    request: Request, session: Session, site: Site, *, error: str = "", form: dict | None = None, status_code: int = 200
) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    customer, assets, tickets = await asyncio.gather(
        backends.identity.get_customer(token, site.customer_id),
        backends.assets.list_assets(
            token, page_size=100, site_id=site.id, customer_id=site.customer_id, include_retired=True
        ),
        rules.tickets_of(backends, token, session.principal, site_id=site.id),
    )
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "staff/assets/site.html",
        {
            "site": site,
            "c": customer,
            "form": form or {"name": site.name, "address": site.address},
            "rows": [asset_row(t, a) for a in assets.items],
            "tickets": _ticket_rows(t, tickets),
            "is_admin": session.principal.is_admin,
            "error": error,
            "done": t(f"staff.assets.done.{done}") if done in _DONE else "",
            "limits": _limits(),
        },
        session=session,
        status_code=status_code,
    )


@router.get("/sites/{site_id}")
async def site_page(request: Request, site_id: str, session: StaffPage) -> Response:
    site = await _backends(request).assets.get_site(session.principal_token, site_id[:64])
    return await _site_page(request, session, site)


@router.post("/sites/{site_id}")
async def save_site(request: Request, site_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    backends, token = _backends(request), session.principal_token
    values = {"name": field(form, "name"), "address": field(form, "address")}
    try:
        site = await backends.assets.update_site(token, site_id[:64], **values)
    except grpc.aio.AioRpcError as err:
        error = _refusal(err)
        site = await backends.assets.get_site(token, site_id[:64])
        return await _site_page(request, session, site, error=error, form=values, status_code=400)
    return RedirectResponse(f"/staff/sites/{quote(site.id, safe='')}?done=saved", 303)


@router.get("/sites/{site_id}/delete")
async def delete_site_confirm(request: Request, site_id: str, session: StaffPage) -> Response:
    site = await _backends(request).assets.get_site(session.principal_token, site_id[:64])
    return _delete_page(request, session, "site", site.name, f"/staff/sites/{site.id}")


@router.post("/sites/{site_id}/delete")
async def delete_site(request: Request, site_id: str, session: StaffPage) -> Response:
    await _form(request)
    backends, token = _backends(request), session.principal_token
    site = await backends.assets.get_site(token, site_id[:64])
    try:
        await backends.assets.delete_site(token, site.id)
    except grpc.aio.AioRpcError as err:
        status = 409 if err.code() == grpc.StatusCode.FAILED_PRECONDITION else 403
        return _delete_page(
            request, session, "site", site.name, f"/staff/sites/{site.id}", error=_refusal(err), status_code=status
        )
    return RedirectResponse(f"/staff/customers/{quote(site.customer_id, safe='')}/assets?done=site_deleted", 303)
