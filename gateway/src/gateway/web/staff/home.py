"""The staff console's home (the newest tickets across customers) and the portal home's layout (SPEC H3) under
the staff settings."""

from __future__ import annotations

import asyncio
import logging

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import home as home_rules
from gateway.clients.portal_controls import HomeLayout, PortalControlsClient
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, split_field
from gateway.edge.portal_controls import controls_cache
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.views.tickets import ticket_row

log = logging.getLogger(__name__)

NEWEST_TICKETS = 50

router = APIRouter(prefix="/staff", include_in_schema=False)


@router.get("")
async def staff_home(request: Request, session: StaffPage) -> Response:
    pages = request.app.state.pages
    backends = request.app.state.backends
    tickets, customers = await asyncio.gather(
        backends.tickets.list_tickets(session.principal_token, page_size=NEWEST_TICKETS),
        backends.identity.list_customers(session.principal_token, page_size=100),
        return_exceptions=True,
    )
    if isinstance(tickets, BaseException):
        raise tickets
    names = {} if isinstance(customers, BaseException) else {c.id: c.display_name for c in customers.items}
    t = pages.translator(request)
    rows = [(ticket_row(t, tk), names.get(tk.customer_id, tk.customer_id), tk.customer_id) for tk in tickets.items]
    return pages.render(request, "staff/home.html", {"rows": rows}, session=session)


# --- the portal home's layout (SPEC H3): admins change it, technicians see it ---------------------------------


def _layout_client(request: Request) -> PortalControlsClient:
    return request.app.state.backends.portal_controls


async def _layout_form(request: Request):  # noqa: ANN202 - starlette FormData
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return form


@router.get("/settings/home")
async def home_layout_page(request: Request, session: StaffPage) -> Response:
    return await _layout_page(request, session)


async def _layout_page(request: Request, session: Session, *, error: str = "", status_code: int = 200) -> Response:
    pages = request.app.state.pages
    t = pages.translator(request)
    layout = await _layout_client(request).home_layout(session.principal_token)
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "staff/home_layout.html",
        {
            "items": [
                (key, enabled, t(f"staff.home.key.{key}"), t(f"staff.home.kind.{home_rules.kind_of(key)}"))
                for key, enabled in layout.items
            ],
            "scope": layout.default_scope,
            "admin": session.principal.is_admin,
            "done": t("staff.home.saved") if done in ("saved", "moved", "reset") else "",
            "error": error,
        },
        session=session,
        status_code=status_code,
    )


async def _store(
    request: Request, session: Session, layout: HomeLayout | None, done: str, anchor: str = ""
) -> Response:
    try:
        await _layout_client(request).update_home_layout(session.principal_token, layout)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return request.app.state.pages.error(request, FORBIDDEN, session=session)
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            _, detail = split_field(err.details() or "")
            return await _layout_page(request, session, error=detail, status_code=400)
        raise
    # This replica shows the change on the next view; the others within the controls cache's few seconds.
    controls_cache(request.app).invalidate()
    return RedirectResponse(f"/staff/settings/home?done={done}{anchor}", status_code=303)


@router.post("/settings/home")
async def save_home_layout(request: Request, session: StaffPage) -> Response:
    """The whole form: each key's checkbox (checked = shown), in the order shown, and the default scope."""
    form = await _layout_form(request)
    current = await _layout_client(request).home_layout(session.principal_token)
    shown = set(form.getlist("enabled"))
    items = tuple((key, key in shown) for key, _ in current.items)
    scope = field(form, "default_scope")
    return await _store(request, session, HomeLayout(items, scope if scope in ("all", "mine") else "all"), "saved")


@router.post("/settings/home/move")
async def move_home_item(request: Request, session: StaffPage) -> Response:
    """One up or down button: swap the key with its neighbour (the no-JavaScript way to reorder)."""
    form = await _layout_form(request)
    current = await _layout_client(request).home_layout(session.principal_token)
    items = home_rules.move(current.items, field(form, "key")[:64], field(form, "direction"))
    key = field(form, "key")[:64]
    anchor = f"#item-{key}" if key in home_rules.KEYS else ""
    return await _store(request, session, HomeLayout(items, current.default_scope), "moved", anchor)


@router.post("/settings/home/reset")
async def reset_home_layout(request: Request, session: StaffPage) -> Response:
    await _layout_form(request)
    return await _store(request, session, None, "reset")
