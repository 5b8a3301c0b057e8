"""Staff sign-in and sign-out pages: the portal's sign-in flow (web/session.py) with the staff cookie and audience;
the second step of a staff sign-in (MFA code or enrolment, SPEC S1) and the page a staff invitation's link opens."""

from __future__ import annotations

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.clients.identity import AUDIENCE_STAFF
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import split_field
from gateway.web.account import (
    MAX_TOKEN,
    MfaFlow,
    _address,
    _anonymous_page,
    _password_errors,
    mfa_code_form,
    mfa_code_submit,
    mfa_enrol_form,
    mfa_enrol_submit,
)
from gateway.web.deps import STAFF_COOKIE, STAFF_COOKIE_FLAGS, STAFF_SIGNIN
from gateway.web.forms import check_csrf, field, read_form, safe_next
from gateway.web.session import retry_pending_signin, signin_page, submit_signin, submit_signout

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


@router.get("/signin/pending")
async def staff_signin_pending(request: Request) -> Response:
    return await retry_pending_signin(
        request,
        audience=AUDIENCE_STAFF,
        cookie=STAFF_COOKIE,
        cookie_flags=STAFF_COOKIE_FLAGS,
        action=STAFF_SIGNIN,
        heading=HEADING,
        next_of=_staff_next,
    )


@router.post("/signout")
async def staff_signout(request: Request) -> Response:
    return await submit_signout(request, cookie=STAFF_COOKIE, cookie_flags=STAFF_COOKIE_FLAGS, signin_path=STAFF_SIGNIN)


# --- the second step of a staff sign-in (SPEC S1): the portal's MFA pages, under /staff with the staff cookie ---

STAFF_MFA = MfaFlow(
    cookie=STAFF_COOKIE, cookie_flags=STAFF_COOKIE_FLAGS, prefix="/staff", signin_path=STAFF_SIGNIN, home="/staff"
)


@router.get("/mfa")
async def staff_mfa_form(request: Request, next: str = "/staff") -> Response:  # noqa: A002
    return await mfa_code_form(request, next, STAFF_MFA)


@router.post("/mfa")
async def staff_mfa_submit(request: Request) -> Response:
    return await mfa_code_submit(request, STAFF_MFA)


@router.get("/mfa/enrol")
async def staff_enrol_form(request: Request, next: str = "/staff") -> Response:  # noqa: A002
    return await mfa_enrol_form(request, next, STAFF_MFA)


@router.post("/mfa/enrol")
async def staff_enrol_submit(request: Request) -> Response:
    return await mfa_enrol_submit(request, STAFF_MFA)


# --- accepting a staff invitation: choose a first password with the emailed single-use link ---------------------

INVITATION = "/staff/invitation"


def _invitation_page(
    request: Request, token: str, login: str, errors: dict[str, str], status_code: int = 200
) -> Response:
    context = {
        "token": token,
        "errors": errors,
        "action": INVITATION,
        "login": login,
        "lead_key": "staff.invitation.lead",
    }
    return _anonymous_page(request, "account/invitation.html", context, status_code)


def _dead_invitation(request: Request) -> Response:
    return _anonymous_page(request, "account/link_dead.html", {}, 410)


async def _invited_login(request: Request, token: str) -> str | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    try:
        return await request.app.state.backends.identity.check_staff_invitation(token)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
            return None
        raise


@router.get("/invitation")
async def staff_invitation_form(request: Request, token: str = "") -> Response:
    login = await _invited_login(request, token)
    if login is None:
        return _dead_invitation(request)
    return _invitation_page(request, token, login, {})


@router.post("/invitation")
async def staff_invitation_submit(request: Request) -> Response:
    form = await read_form(request)
    # Not signed in yet: the form carries the pre-sign-in CSRF token.
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    t = request.app.state.pages.translator(request)
    token = field(form, "token")
    if not token or len(token) > MAX_TOKEN:
        return _dead_invitation(request)
    new, confirm = field(form, "new_password"), field(form, "confirm_password")
    errors = _password_errors(t, new, confirm)
    if errors:
        return _invitation_page(request, token, "", errors, 400)
    try:
        await request.app.state.backends.identity.accept_staff_invitation(
            token=token, new_password=new, client_address=_address(request)
        )
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            return _dead_invitation(request)
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            _, detail = split_field(err.details() or "")
            return _invitation_page(request, token, "", {"new_password": detail}, 400)
        raise
    response = RedirectResponse(f"{INVITATION}/done", status_code=303)
    response.delete_cookie(STAFF_COOKIE, **STAFF_COOKIE_FLAGS)
    return response


@router.get("/invitation/done")
async def staff_invitation_done(request: Request) -> Response:
    return _anonymous_page(request, "account/reset_done.html", {"signin_path": STAFF_SIGNIN})
