"""A minimal staff console: staff sign-in and the newest tickets across customers.

Staff sessions live in their own cookie, scoped to /staff (see web.deps).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.clients.identity import AUDIENCE_STAFF
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN
from gateway.web.deps import STAFF_COOKIE, STAFF_COOKIE_FLAGS, STAFF_SIGNIN, StaffPage
from gateway.web.forms import check_csrf, read_form, safe_next
from gateway.web.session import SIGN_IN_FAILURES, signin_page
from gateway.web.views import ticket_row

log = logging.getLogger(__name__)

NEWEST_TICKETS = 50

router = APIRouter(prefix="/staff", include_in_schema=False)


def _staff_next(value: str | None) -> str:
    target = safe_next(value)
    return target if target.startswith("/staff") else "/staff"


@router.get("/signin")
async def staff_signin_form(request: Request, next: str = "/staff") -> Response:  # noqa: A002
    return signin_page(request, next_path=_staff_next(next), action=STAFF_SIGNIN, heading="staff.signin.heading")


@router.post("/signin")
async def staff_signin_submit(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    t = request.app.state.pages.translator(request)
    login = str(form.get("login", "")).strip()
    password = str(form.get("password", ""))
    next_path = _staff_next(str(form.get("next", "")))

    def again(message: str, status: int) -> Response:
        return signin_page(
            request,
            login=login[:320],
            message=t(message),
            next_path=next_path,
            status_code=status,
            action=STAFF_SIGNIN,
            heading="staff.signin.heading",
        )

    if not login or not password:
        return again("signin.missing", 400)
    try:
        result = await request.app.state.backends.identity.sign_in(
            login=login[:320],
            password=password[:1024],
            audience=AUDIENCE_STAFF,
            client_address=request.client.host if request.client else "",
        )
    except grpc.aio.AioRpcError as err:
        return again(*SIGN_IN_FAILURES.get(err.code(), ("signin.unavailable", 503)))
    response = RedirectResponse(next_path, status_code=303)
    max_age = None
    if result.expires_at is not None:
        max_age = max(0, int((result.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(STAFF_COOKIE, result.session_token, max_age=max_age, **STAFF_COOKIE_FLAGS)
    return response


@router.post("/signout")
async def staff_signout(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    token = request.cookies.get(STAFF_COOKIE)
    if token:
        request.app.state.sessions.drop(token)
        try:
            await request.app.state.backends.identity.sign_out(token)
        except grpc.aio.AioRpcError as err:
            log.warning("staff sign-out not confirmed by identity", extra={"code": err.code().name})
    response = RedirectResponse(STAFF_SIGNIN, status_code=303)
    response.delete_cookie(STAFF_COOKIE, **STAFF_COOKIE_FLAGS)
    return response


@router.get("")
async def staff_home(request: Request, session: StaffPage) -> Response:
    pages = request.app.state.pages
    if not session.principal.is_staff:
        return pages.error(request, FORBIDDEN, session=session)
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
    rows = [(ticket_row(t, tk), names.get(tk.customer_id, tk.customer_id)) for tk in tickets.items]
    return pages.render(request, "staff_home.html", {"rows": rows}, session=session)
