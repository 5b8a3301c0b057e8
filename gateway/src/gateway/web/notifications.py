"""The account's notifications page (X7): which kinds of web push the user wants (a form that works without
JavaScript), the browsers subscribed, and "Enable on this device" (static/push.js registers the service worker, asks
permission, subscribes with the VAPID key and posts the subscription to /account/notifications/devices)."""

from __future__ import annotations

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from gateway.areas import push as rules
from gateway.clients.schemas import PushPreferences
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, split_field
from gateway.edge.sessions import Session
from gateway.web.deps import PortalPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.render import Pages
from servicekit.principal import KIND_PORTAL_USER

router = APIRouter(include_in_schema=False)

KINDS = tuple(PushPreferences.model_fields)
PAGE = "/account/notifications"


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _allowed(session: Session) -> bool:
    # A secure link is nobody's account (SPEC P6): it has no notifications to set.
    return session.principal.kind == KIND_PORTAL_USER


async def _page(request: Request, session: Session, *, notice: str = "") -> Response:
    settings = await request.app.state.backends.identity.get_push_settings(session.principal_token)
    return _pages(request).render(
        request,
        "notifications/index.html",
        {"settings": settings, "kinds": KINDS, "notice": notice},
        session=session,
    )


@router.get(PAGE)
async def notifications_page(request: Request, session: PortalPage, saved: str = "") -> Response:
    if not _allowed(session):
        return _pages(request).error(request, FORBIDDEN, session=session)
    # Only the page's own words, by code: a query parameter never puts text on the page.
    notice = saved if saved in ("preferences", "removed") else ""
    return await _page(request, session, notice=notice)


@router.post(PAGE)
async def save_preferences(request: Request, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if not _allowed(session):
        return _pages(request).error(request, FORBIDDEN, session=session)
    # An unticked checkbox sends nothing: absent means off.
    wanted = PushPreferences(**{kind: field(form, kind) == "on" for kind in KINDS})
    await request.app.state.backends.identity.set_push_preferences(session.principal_token, wanted)
    return RedirectResponse(f"{PAGE}?saved=preferences", status_code=303)


@router.post(f"{PAGE}/devices")
async def add_device(request: Request, session: PortalPage) -> Response:
    """The page's script posts the browser's subscription here (form-encoded, with the CSRF token); JSON answers."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    t = _pages(request).translator(request)
    if not _allowed(session):
        return JSONResponse({"error": t("push.error.forbidden")}, status_code=403)
    try:
        sub = rules.Subscription(
            endpoint=field(form, "endpoint"), keys={"p256dh": field(form, "p256dh"), "auth": field(form, "auth")}
        )
    except ValidationError:
        return JSONResponse({"error": t("push.error.invalid")}, status_code=400)
    try:
        device = await request.app.state.backends.identity.add_push_subscription(
            session.principal_token,
            endpoint=sub.endpoint,
            p256dh=sub.keys.p256dh,
            auth=sub.keys.auth,
            user_agent=rules.user_agent(request.headers.get("user-agent")),
        )
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            name, _ = split_field(err.details() or "")
            key = "push.error.endpoint" if name == "endpoint" else "push.error.invalid"
            return JSONResponse({"error": t(key)}, status_code=400)
        if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            return JSONResponse({"error": t("push.not_configured")}, status_code=409)
        raise
    return JSONResponse({"id": device.id}, status_code=201)


@router.post(f"{PAGE}/devices/{{device_id}}/delete")
async def remove_device(request: Request, session: PortalPage, device_id: str) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if not _allowed(session):
        return _pages(request).error(request, FORBIDDEN, session=session)
    # Another user's id, or one already removed: NOT_FOUND from identity, the 404 page.
    await request.app.state.backends.identity.remove_push_subscription(session.principal_token, device_id[:64])
    return RedirectResponse(f"{PAGE}?saved=removed", status_code=303)
