"""Opening a secure link (SPEC P6): `/link?token=…` becomes a fresh portal session scoped to the link's ticket,
site or customer, and the browser goes to what the link opens. The token travels in the query string, which the
gateway never logs (paths it does), and leaves the address bar at once with the redirect.

What a link session may do is decided by the services from its principal (its ticket or site, Tickets - View
All and, for site and customer links, Tickets - Create New); the pages only follow: a banner says the portal is
seen through a link, and the ticket page offers no edit or close.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.edge.sessions import SESSION_COOKIE
from gateway.web.deps import COOKIE_FLAGS
from gateway.web.render import Pages
from servicekit.principal import Principal

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

TOKEN_MAX = 128
# Every dead link gets the same page: unknown, expired, revoked or used up look alike to the visitor.
DEAD_STATUS = 410


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def landing(principal: Principal) -> str:
    """Where a link lands: its ticket, its site's tickets, or the portal home for the whole customer."""
    if principal.link_ticket_id:
        return f"/tickets/{principal.link_ticket_id}"
    if principal.link_site_id:
        return "/tickets"
    return "/"


def _dead(request: Request) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    return pages.render(
        request,
        "error.html",
        {
            "title": t("secure_links.dead.title"),
            "message": t("secure_links.dead.detail"),
            "back_href": "/signin",
            "back_label": t("error.back_signin"),
        },
        status_code=DEAD_STATUS,
    )


@router.get("/link")
async def open_link(request: Request, token: str = "") -> Response:
    if not token or len(token) > TOKEN_MAX:
        return _dead(request)
    backends = request.app.state.backends
    sessions = request.app.state.sessions
    try:
        opened = await backends.identity.open_secure_link(
            token,
            client_address=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", "")[:300],
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
            return _dead(request)
        raise
    # A session this browser had before (a signed-in user's, or an older link's) ends: one browser, one session.
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        sessions.drop(previous)
        try:
            await backends.identity.sign_out(previous)
        except grpc.aio.AioRpcError as err:
            log.warning("the previous session was not ended by identity", extra={"code": err.code().name})
    session = await sessions.resolve(opened.session_token)
    response = RedirectResponse(landing(session.principal), status_code=303)
    max_age = None
    if opened.expires_at is not None:
        max_age = max(0, int((opened.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(SESSION_COOKIE, opened.session_token, max_age=max_age, **COOKIE_FLAGS)
    return response
