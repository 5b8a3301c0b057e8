"""Staff sign-in and sign-out pages: the portal's sign-in flow (web/session.py) with the staff cookie and audience."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.clients.identity import AUDIENCE_STAFF
from gateway.edge.csrf import CSRF_FIELD
from gateway.web.deps import STAFF_COOKIE, STAFF_COOKIE_FLAGS, STAFF_SIGNIN
from gateway.web.forms import check_csrf, field, read_form, safe_next
from gateway.web.session import signin_page, submit_signin, submit_signout

router = APIRouter(prefix="/staff", include_in_schema=False)
HEADING = "staff.signin.heading"


def _staff_next(value: str | None) -> str:
    target = safe_next(value)
    return target if target.startswith("/staff") else "/staff"


@router.get("/signin")
async def staff_signin_form(request: Request, next: str = "/staff") -> Response:  # noqa: A002
    return signin_page(request, next_path=_staff_next(next), action=STAFF_SIGNIN, heading=HEADING)


@router.post("/signin")
async def staff_signin_submit(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return await submit_signin(
        request,
        form,
        audience=AUDIENCE_STAFF,
        cookie=STAFF_COOKIE,
        cookie_flags=STAFF_COOKIE_FLAGS,
        next_path=_staff_next(field(form, "next")),
        action=STAFF_SIGNIN,
        heading=HEADING,
    )


@router.post("/signout")
async def staff_signout(request: Request) -> Response:
    return await submit_signout(request, cookie=STAFF_COOKIE, cookie_flags=STAFF_COOKIE_FLAGS, signin_path=STAFF_SIGNIN)
