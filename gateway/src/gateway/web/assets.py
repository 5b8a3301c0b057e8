"""Asset and site pages of the portal (SPEC A1–A3, T8): /assets (search, Mine / All tabs, keyset pages), an asset's
page (its fields, its tickets, a form for the custom fields staff marked editable, "New ticket about this asset"),
and a site's page (its assets and tickets).

The assets service decides what the user may see and change (another customer's id is 404 from there); these pages
only decide what to offer. Everything works without JavaScript."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import assets as rules
from gateway.clients import Backends
from gateway.clients.schemas import Asset, Site
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND, split_field
from gateway.edge.portal_controls import request_controls
from gateway.edge.sessions import Session
from gateway.web.deps import PortalPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.remote import asset_section, list_column
from gateway.web.render import Pages
from gateway.web.views.assets import asset_row
from gateway.web.views.tickets import list_row
from servicekit import permissions as perm

router = APIRouter(include_in_schema=False)

SITES_FOR_NAMES = 100


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


async def _site_names(request: Request, session: Session) -> dict[str, str]:
    """Site id → name for the Site column (the first 100 sites; others show no name)."""
    try:
        page = await _backends(request).assets.list_sites(session.principal_token, page_size=SITES_FOR_NAMES)
    except grpc.aio.AioRpcError:
        return {}
    return {s.id: s.name for s in page.items}


@router.get("/assets")
async def assets_list(request: Request, session: PortalPage) -> Response:
    p = session.principal
    pages = _pages(request)
    if not rules.may_view(p):
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    qp = request.query_params
    query = " ".join(qp.get("q", "").split())[: rules.QUERY_MAX]
    tabs = rules.scope_tabs(p)
    controls = request_controls(request)
    # SPEC H3: with no scope in the address, the list opens on staff's default scope where the user has both tabs.
    default = controls.home_layout.default_scope if controls is not None else "all"
    default = default if default in tabs else "all"
    scope = qp.get("scope", default)
    scope = scope if scope in tabs else "all"
    cursor = qp.get("cursor", "")[:512]
    backends = _backends(request)

    async def page_from(c: str):  # noqa: ANN202
        return await backends.assets.list_assets(
            session.principal_token,
            page_size=rules.PAGE_SIZE,
            cursor=c,
            query=query,
            mine_only=rules.mine_only(p, scope),
        )

    try:
        page = await page_from(cursor)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        page, cursor = await page_from(""), ""  # a stale or edited cursor: the first page rather than an error
    names, remote = await asyncio.gather(_site_names(request, session), list_column(request, session, page.items))
    base = [*([("q", query)] if query else []), *([("scope", scope)] if scope != default else [])]
    return pages.render(
        request,
        "assets/list.html",
        {
            "rows": [asset_row(t, a, names) for a in page.items],
            # The Remote column: asset id → agent and action; None when remote did not answer.
            "remote": remote,
            "query": query,
            "scope": scope,
            "tabs": [(s, "/assets?" + urlencode([*([("q", query)] if query else []), ("scope", s)])) for s in tabs],
            "next_href": "/assets?" + urlencode([*base, ("cursor", page.next_cursor)]) if page.next_cursor else "",
            "first_href": ("/assets?" + urlencode(base)) if cursor else "",
        },
        session=session,
    )


async def _asset_page(
    request: Request,
    session: Session,
    asset: Asset,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    backends, token, p = _backends(request), session.principal_token, session.principal
    site: Site | None = None
    if asset.site_id:
        try:
            site = await backends.assets.get_site(token, asset.site_id)
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
    tickets, remote = await asyncio.gather(
        rules.tickets_of(backends, token, p, asset_id=asset.id), asset_section(request, session, asset)
    )
    editable = rules.editable_fields(asset)
    new_ticket = ""
    if p.has(perm.TICKETS_CREATE) and not asset.retired_at:
        new_ticket = "/tickets/new?" + urlencode(
            [("asset_id", asset.id), *([("site_id", asset.site_id)] if asset.site_id else [])]
        )
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "assets/asset.html",
        {
            "a": asset,
            "site": site,
            "retired": t.datetime(asset.retired_at) if asset.retired_at else "",
            "mine": bool(asset.contact_id) and asset.contact_id == p.contact_id,
            "tickets": None if tickets is None else [list_row(t, tk) for tk in tickets.items],
            "more_tickets": bool(tickets and tickets.next_cursor),
            "tickets_href": "/tickets?" + urlencode([("asset_id", asset.id)]),
            "editable": editable,
            "values": values or {f.name: f.value for f in asset.custom_fields},
            "errors": errors or {},
            "limits": {"value": rules.FIELD_VALUE_MAX},
            "new_ticket_href": new_ticket,
            "done": t("assets.saved") if done == "saved" else "",
            "remote": remote,
        },
        session=session,
        status_code=status_code,
    )


@router.get("/assets/{asset_id}")
async def asset_page(request: Request, asset_id: str, session: PortalPage) -> Response:
    if not rules.may_view(session.principal):
        return _pages(request).error(request, NOT_FOUND, session=session)
    asset = await _backends(request).assets.get_asset(session.principal_token, asset_id[:64])
    return await _asset_page(request, session, asset)


@router.post("/assets/{asset_id}/fields")
async def edit_fields(request: Request, asset_id: str, session: PortalPage) -> Response:
    """Save the custom fields the customer may edit; only those are sent, the service checks them again."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if not rules.may_view(session.principal):
        return _pages(request).error(request, NOT_FOUND, session=session)
    backends, token = _backends(request), session.principal_token
    asset = await backends.assets.get_asset(token, asset_id[:64])
    t = _pages(request).translator(request)
    values = {name: field(form, f"field_{i}").strip() for i, name in enumerate(rules.editable_fields(asset))}
    errors = {
        name: t("assets.field_too_long", max=rules.FIELD_VALUE_MAX)
        for name, value in values.items()
        if len(value) > rules.FIELD_VALUE_MAX
    }
    if not errors:
        try:
            await backends.assets.update_asset(token, asset.id, custom_field_values=values)
        except grpc.aio.AioRpcError as err:
            if err.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
                raise
            errors["_form"] = split_field(err.details() or "")[1]
    if errors:
        shown = {f.name: f.value for f in asset.custom_fields} | values
        return await _asset_page(request, session, asset, errors=errors, values=shown, status_code=400)
    return RedirectResponse(f"/assets/{asset.id}?done=saved", status_code=303)


@router.get("/sites/{site_id}")
async def site_page(request: Request, site_id: str, session: PortalPage) -> Response:
    p = session.principal
    pages = _pages(request)
    if not rules.may_view(p):
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    site = await backends.assets.get_site(token, site_id[:64])
    assets = await backends.assets.list_assets(token, page_size=100, site_id=site.id)
    tickets = await rules.tickets_of(backends, token, p, site_id=site.id)
    return pages.render(
        request,
        "assets/site.html",
        {
            "site": site,
            "rows": [asset_row(t, a) for a in assets.items],
            "more_assets": bool(assets.next_cursor),
            "tickets": None if tickets is None else [list_row(t, tk) for tk in tickets.items],
            "more_tickets": bool(tickets and tickets.next_cursor),
            "tickets_href": "/tickets?" + urlencode([("site_id", site.id)]),
            "new_ticket_href": "/tickets/new?" + urlencode([("site_id", site.id)])
            if p.has(perm.TICKETS_CREATE)
            else "",
        },
        session=session,
    )
