"""Masked credentials on the portal (SPEC A5, X8): the public credentials the user's group may see, with the password
masked; a credential's page with a Reveal button — a POST form, so it works without JavaScript — whose answer is the
same page with the password shown once (never cached), and the credential's access log: who revealed it and when.
The assets service decides what the user may see and records every reveal; these pages only decide what to offer."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.areas.credentials import may_view
from gateway.clients import Backends
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND
from gateway.edge.sessions import Session
from gateway.web.deps import PortalPage
from gateway.web.forms import check_csrf, read_form
from gateway.web.render import Pages
from gateway.web.views.credentials import access_row, credential_row

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
LOG_SIZE = 50


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


@router.get("/credentials")
async def credentials_page(request: Request, session: PortalPage) -> Response:
    pages = _pages(request)
    if not may_view(session.principal):
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    cursor = request.query_params.get("cursor", "")[:512]
    page = await _backends(request).credentials.list(session.principal_token, page_size=PAGE_SIZE, cursor=cursor)
    return pages.render(
        request,
        "credentials/list.html",
        {
            "rows": [credential_row(t, c, href=f"/credentials/{c.id}") for c in page.items],
            "next_href": "/credentials?" + urlencode({"cursor": page.next_cursor}) if page.next_cursor else "",
            "first_href": "/credentials" if cursor else "",
        },
        session=session,
    )


async def _credential_page(request: Request, session: Session, credential_id: str, *, password: str | None) -> Response:
    pages = _pages(request)
    if not may_view(session.principal) or len(credential_id) > 36:
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    # The reveal (when there is one) is recorded before the log is read, so the page shows it.
    credential = await backends.credentials.get(token, credential_id)
    log = await backends.credentials.access(token, credential_id=credential_id, page_size=LOG_SIZE)
    response = pages.render(
        request,
        "credentials/detail.html",
        {
            "c": credential_row(t, credential, href=f"/credentials/{credential.id}"),
            "password": password,
            "log": [access_row(t, e) for e in log.items],
            "more_log": bool(log.next_cursor),
        },
        session=session,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/credentials/{credential_id}")
async def credential_page(request: Request, credential_id: str, session: PortalPage) -> Response:
    return await _credential_page(request, session, credential_id, password=None)


@router.post("/credentials/{credential_id}/reveal")
async def reveal(request: Request, credential_id: str, session: PortalPage) -> Response:
    """The credential's page with its password shown, answered to the POST itself: no URL or redirect carries it."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if not may_view(session.principal) or len(credential_id) > 36:
        return _pages(request).error(request, NOT_FOUND, session=session)
    shown = await _backends(request).credentials.reveal(session.principal_token, credential_id)
    return await _credential_page(request, session, credential_id, password=shown.password)
