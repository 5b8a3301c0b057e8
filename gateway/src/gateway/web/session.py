"""Portal sign-in and sign-out, and the language switch."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.clients.identity import AUDIENCE_PORTAL, STEP_MFA_CODE, STEP_MFA_ENROL
from gateway.edge.csrf import CSRF_COOKIE, CSRF_FIELD, Csrf
from gateway.edge.errors import NOT_FOUND
from gateway.edge.sessions import SESSION_COOKIE
from gateway.web import support_window
from gateway.web.deps import COOKIE_FLAGS, backends, csrf, pages, sessions
from gateway.web.forms import check_csrf, field, read_form, safe_next
from gateway.web.i18n import LANG_COOKIE, LANGUAGES

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# What a failed SignIn shows: the translation key of the message and the HTTP status of the re-rendered form.
SIGN_IN_FAILURES = {
    grpc.StatusCode.UNAUTHENTICATED: ("signin.wrong", 401),
    grpc.StatusCode.INVALID_ARGUMENT: ("signin.wrong", 401),
    grpc.StatusCode.NOT_FOUND: ("signin.wrong", 401),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ("signin.locked", 429),
    grpc.StatusCode.PERMISSION_DENIED: ("signin.refused", 403),
    grpc.StatusCode.FAILED_PRECONDITION: ("signin.refused", 403),
}


def signin_page(
    request: Request,
    *,
    login: str = "",
    message: str = "",
    next_path: str = "/",
    status_code: int = 200,
    action: str = "/signin",
    heading: str = "signin.heading",
) -> Response:
    nonce = request.cookies.get(CSRF_COOKIE)
    new_nonce = not nonce or len(nonce) > 64
    if new_nonce:
        nonce = Csrf.new_nonce()
    response = pages(request).render(
        request,
        "signin.html",
        {"login": login, "message": message, "next": next_path, "action": action, "heading": heading},
        csrf_token=csrf(request).for_nonce(nonce),
        status_code=status_code,
    )
    if new_nonce:
        response.set_cookie(CSRF_COOKIE, nonce, **COOKIE_FLAGS)
    return response


@router.get("/signin", name="signin")
async def signin_form(request: Request, next: str = "/", why: str = "") -> Response:  # noqa: A002 - the query parameter's name
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            await sessions(request).resolve(token)
        except grpc.aio.AioRpcError:
            pass
        else:
            return RedirectResponse(safe_next(next), status_code=303)
    message = pages(request).translator(request)("signin.support_closed") if why == support_window.REASON else ""
    return signin_page(request, next_path=safe_next(next), message=message)


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    t = pages(request).translator(request)
    login, password = field(form, "login").strip(), field(form, "password")
    next_path = safe_next(field(form, "next"))
    if not login or not password:
        return signin_page(request, login=login, message=t("signin.missing"), next_path=next_path, status_code=400)
    if len(login) > 320 or len(password) > 1024:
        return signin_page(request, login="", message=t("signin.wrong"), next_path=next_path, status_code=401)
    try:
        result = await backends(request).identity.sign_in(
            login=login,
            password=password,
            audience=AUDIENCE_PORTAL,
            client_address=request.client.host if request.client else "",
        )
    except grpc.aio.AioRpcError as err:
        message, status = SIGN_IN_FAILURES.get(err.code(), ("signin.unavailable", 503))
        text = t(message)
        if err.code() == grpc.StatusCode.FAILED_PRECONDITION and support_window.closed(err.details()):
            text = support_window.sign_in_message(t, err.details())
        return signin_page(request, login=login, message=text, next_path=next_path, status_code=status)
    target = next_path
    if result.next_step == STEP_MFA_CODE:
        target = f"/mfa?next={quote(next_path, safe='/')}"
    elif result.next_step == STEP_MFA_ENROL:
        target = f"/mfa/enrol?next={quote(next_path, safe='/')}"
    response = RedirectResponse(target, status_code=303)
    max_age = None
    if result.expires_at is not None:
        max_age = max(0, int((result.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(SESSION_COOKIE, result.session_token, max_age=max_age, **COOKIE_FLAGS)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions(request).drop(token)
        try:
            await backends(request).identity.sign_out(token)
        except grpc.aio.AioRpcError as err:
            # The cookie goes regardless; an identity outage must not keep the browser signed in locally.
            log.warning("sign-out not confirmed by identity", extra={"code": err.code().name})
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **COOKIE_FLAGS)
    return response


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:  # noqa: A002
    if code not in LANGUAGES:
        return pages(request).error(request, NOT_FOUND)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, **COOKIE_FLAGS)
    return response
