"""The staff console's secure links (SPEC P6, issue 12), reached from a customer's page: the customer's links with
their state and uses, a new link to the whole customer or one of its tickets (its address is shown once, on the
page that answers the form, to copy — identity keeps only its hash), the trail of a link's uses, and Revoke after a
confirmation page. The rules are identity's and `areas/secure_links.py`'s, shared with the staff API."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas.secure_links import WrongScope, check_scope
from gateway.clients import Backends
from gateway.clients.identity import SECURE_LINK_SCOPES
from gateway.clients.schemas import opt_datetime
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND, split_field
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.render import Pages

router = APIRouter(prefix="/staff", include_in_schema=False)

_SCOPE_NAMES = {v: k for k, v in SECURE_LINK_SCOPES.items()}
DAY = 86_400
OPEN_TICKETS = 50


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def _row(t: Translator, link, numbers: dict[str, int]) -> dict:  # noqa: ANN001 - portal.identity.v1.SecureLink
    scope = _SCOPE_NAMES.get(link.scope, "")
    if scope == "ticket":
        what = t("staff.links.scope_ticket", number=numbers.get(link.scope_id, "?"))
    elif scope == "site":
        what = t("staff.links.scope_site")
    else:
        what = t("staff.links.scope_customer")
    return {
        "id": link.id,
        "what": what,
        "state": t.table.get(f"staff.links.state.{link.state}") or link.state,
        "active": link.state == "active",
        "expires": t.datetime(opt_datetime(link, "expires_at")),
        "uses": link.use_count,
        "single_use": link.single_use,
    }


async def _customer_or_none(request: Request, session: Session, customer_id: str):  # noqa: ANN202
    try:
        return (await _backends(request).identity.get_customer_record(session.principal_token, customer_id)).customer
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return None
        raise


@router.get("/customers/{customer_id}/secure-links")
async def links_page(request: Request, customer_id: str, session: StaffPage) -> Response:
    return await _links_page(request, session, customer_id)


async def _links_page(
    request: Request,
    session: Session,
    customer_id: str,
    *,
    error: str = "",
    created: dict | None = None,
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    customer = await _customer_or_none(request, session, customer_id)
    if customer is None:
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    links, tickets = await asyncio.gather(
        backends.identity.list_secure_links(token, customer.id),
        backends.tickets.list_tickets(token, page_size=OPEN_TICKETS, open_only=True, customer_id=customer.id),
        return_exceptions=True,
    )
    if isinstance(links, BaseException):
        raise links
    open_tickets = [] if isinstance(tickets, BaseException) else tickets.items
    numbers = {tk.id: tk.number for tk in open_tickets}
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "staff/secure_links.html",
        {
            "c": customer,
            "links": [_row(t, x, numbers) for x in links],
            "tickets": [(tk.id, f"#{tk.number} {tk.subject}") for tk in open_tickets],
            "created": created,
            "error": error,
            "done": t("staff.links.revoked") if done == "revoked" else "",
        },
        session=session,
        status_code=status_code,
    )


async def _form(request: Request):  # noqa: ANN202 - starlette FormData
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return form


@router.post("/customers/{customer_id}/secure-links")
async def create_link(request: Request, customer_id: str, session: StaffPage) -> Response:
    """A new link; its address is on the answering page only (never in a redirect, a log or a later page)."""
    form = await _form(request)
    t = _pages(request).translator(request)
    scope_id = field(form, "ticket_id")[:64]
    scope = "ticket" if scope_id else "customer"
    try:
        days = int(field(form, "days") or "7")
    except ValueError:
        days = 0
    if not 1 <= days <= 90:
        return await _links_page(request, session, customer_id, error=t("staff.links.days_invalid"), status_code=400)
    backends, token = _backends(request), session.principal_token
    try:
        await check_scope(backends, token, customer_id, scope, scope_id)
        made = await backends.identity.create_secure_link(
            token,
            customer_id=customer_id,
            scope=scope,
            scope_id=scope_id,
            expires_in_seconds=days * DAY,
            single_use=field(form, "single_use") == "1",
        )
    except WrongScope as wrong:
        return await _links_page(request, session, customer_id, error=str(wrong), status_code=400)
    except grpc.aio.AioRpcError as err:
        if err.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            raise
        message = split_field(err.details() or "")[1]
        return await _links_page(request, session, customer_id, error=message, status_code=400)
    response = await _links_page(request, session, customer_id, created={"url": made.url}, status_code=201)
    # The page holds a working link: no cache of it anywhere.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/secure-links/{link_id}/uses")
async def uses_page(request: Request, link_id: str, session: StaffPage) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    try:
        uses = await _backends(request).identity.list_secure_link_uses(session.principal_token, link_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    rows = [
        {
            "at": t.datetime(opt_datetime(u, "at")),
            "outcome": t.table.get(f"staff.links.outcome.{u.outcome}") or u.outcome,
            "address": u.client_address,
            "agent": u.user_agent[:120],
        }
        for u in uses
    ]
    back = field(request.query_params, "customer")[:64]
    return pages.render(
        request,
        "staff/secure_link_uses.html",
        {"rows": rows, "back": f"/staff/customers/{quote(back, safe='')}/secure-links" if back else "/staff/customers"},
        session=session,
    )


@router.get("/secure-links/{link_id}/revoke")
async def revoke_confirm(request: Request, link_id: str, session: StaffPage) -> Response:
    pages = _pages(request)
    customer_id = field(request.query_params, "customer")[:64]
    return pages.render(
        request, "staff/secure_link_revoke.html", {"link_id": link_id, "customer_id": customer_id}, session=session
    )


@router.post("/secure-links/{link_id}/revoke")
async def revoke(request: Request, link_id: str, session: StaffPage) -> Response:
    await _form(request)  # the CSRF check
    try:
        link = await _backends(request).identity.revoke_secure_link(session.principal_token, link_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return _pages(request).error(request, NOT_FOUND, session=session)
        raise
    return RedirectResponse(
        f"/staff/customers/{quote(link.customer_id, safe='')}/secure-links?done=revoked", status_code=303
    )
