"""Portal sign-in and sign-out, and the language switch."""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from gateway.areas import session as areas_session
from gateway.clients.identity import AUDIENCE_PORTAL, SignInBusy
from gateway.edge.csrf import CSRF_COOKIE, CSRF_FIELD, Csrf
from gateway.edge.errors import NOT_FOUND
from gateway.edge.idempotency import new_key
from gateway.edge.sessions import SESSION_COOKIE
from gateway.web import signin_busy, support_window
from gateway.web.deps import COOKIE_FLAGS, STAFF_COOKIE, backends, csrf, pages, sessions
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
        "session/signin.html",
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


async def submit_signin(
    request: Request,
    form: FormData,
    *,
    audience: int,
    cookie: str,
    cookie_flags: dict,
    next_path: str,
    action: str = "/signin",
    heading: str = "signin.heading",
) -> Response:
    """The sign-in form's post, for the portal and the staff console alike (its CSRF token already checked)."""
    login, password = field(form, "login").strip(), field(form, "password")
    return await _attempt(
        request,
        login=login,
        password=password,
        attempt_id=new_key(),
        audience=audience,
        cookie=cookie,
        cookie_flags=cookie_flags,
        next_path=next_path,
        action=action,
        heading=heading,
    )


async def retry_pending_signin(
    request: Request,
    *,
    audience: int,
    cookie: str,
    cookie_flags: dict,
    action: str = "/signin",
    heading: str = "signin.heading",
    next_of: Callable[[str], str] = safe_next,
) -> Response:
    """`<sign-in path>/pending`, where the "Signing you in…" page comes back: the same attempt again (same id, so a
    wrong password counts once), or the form when nothing is pending (older than two minutes, or already done)."""
    pending = signin_busy.unseal(request, request.cookies.get(signin_busy.PENDING_COOKIE))
    if pending is None:
        t = pages(request).translator(request)
        page = signin_page(request, message=t("signin.pending_gone"), action=action, heading=heading)
        return signin_busy.forget(page, action)
    response = await _attempt(
        request,
        login=pending["l"],
        password=pending["p"],
        attempt_id=pending["a"],
        audience=audience,
        cookie=cookie,
        cookie_flags=cookie_flags,
        next_path=next_of(pending["n"]),
        action=action,
        heading=heading,
    )
    # Still busy: the answer carries a fresh pending cookie; otherwise the attempt is over.
    return response if response.status_code == 503 else signin_busy.forget(response, action)


async def _attempt(
    request: Request,
    *,
    login: str,
    password: str,
    attempt_id: str,
    audience: int,
    cookie: str,
    cookie_flags: dict,
    next_path: str,
    action: str,
    heading: str,
) -> Response:
    t = pages(request).translator(request)

    def again(message: str, status: int, *, keep_login: bool = True) -> Response:
        return signin_page(
            request,
            login=login if keep_login else "",
            message=message,
            next_path=next_path,
            status_code=status,
            action=action,
            heading=heading,
        )

    if not login or not password:
        return again(t("signin.missing"), 400)
    try:
        result = await areas_session.sign_in(
            backends(request), request, login=login, password=password, audience=audience, attempt_id=attempt_id
        )
    except SignInBusy as busy:
        # identity's hashing queue is full: nothing was checked or counted. "Signing you in…", then again.
        sealed = signin_busy.seal(request, login=login, password=password, attempt_id=attempt_id, next_path=next_path)
        return signin_busy.busy_page(
            request, sealed=sealed, retry_after=busy.retry_after, action=action, heading=heading
        )
    except areas_session.TooLong:
        return again(t("signin.wrong"), 401, keep_login=False)
    except grpc.aio.AioRpcError as err:
        message, status = SIGN_IN_FAILURES.get(err.code(), ("signin.unavailable", 503))
        text = t(message)
        if err.code() == grpc.StatusCode.FAILED_PRECONDITION and support_window.closed(err.details()):
            text = support_window.sign_in_message(t, err.details())
        return again(text, status)
    # A second factor the session still owes: the portal's pages, or the staff console's (SPEC P4, S1).
    target = result.page_after(next_path, prefix="" if audience == AUDIENCE_PORTAL else "/staff")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(cookie, result.session_token, max_age=result.cookie_max_age(), **cookie_flags)
    return response


async def submit_signout(request: Request, *, cookie: str, cookie_flags: dict, signin_path: str) -> Response:
    """The sign-out form's post, for the portal and the staff console alike."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), cookie)
    token = request.cookies.get(cookie)
    if token:
        await areas_session.sign_out_quietly(backends(request), sessions(request), token)
    response = RedirectResponse(signin_path, status_code=303)
    response.delete_cookie(cookie, **cookie_flags)
    return response


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    return await submit_signin(
        request,
        form,
        audience=AUDIENCE_PORTAL,
        cookie=SESSION_COOKIE,
        cookie_flags=COOKIE_FLAGS,
        next_path=safe_next(field(form, "next")),
    )


@router.get("/signin/pending")
async def signin_pending(request: Request) -> Response:
    return await retry_pending_signin(
        request, audience=AUDIENCE_PORTAL, cookie=SESSION_COOKIE, cookie_flags=COOKIE_FLAGS
    )


@router.post("/signout")
async def signout(request: Request) -> Response:
    return await submit_signout(request, cookie=SESSION_COOKIE, cookie_flags=COOKIE_FLAGS, signin_path="/signin")


@router.get("/lang/{code}")
@router.get("/staff/lang/{code}")  # the staff cookie is scoped to /staff: the console's switch comes here
async def switch_language(request: Request, code: str, next: str = "/") -> Response:  # noqa: A002
    """The header's language switch. The cookie keeps it for signed-out pages; a signed-in user (portal or staff,
    whichever the next page is) also keeps it on the user (SPEC H5), so another browser and its emails follow."""
    if code not in LANGUAGES:
        return pages(request).error(request, NOT_FOUND)
    target = safe_next(next)
    staff = request.url.path.startswith("/staff/")
    token = request.cookies.get(STAFF_COOKIE if staff else SESSION_COOKIE)
    if token:
        try:
            session = await sessions(request).resolve(token)
            await backends(request).identity.set_my_language(session.principal_token, code)
            sessions(request).drop(token)  # the next page reads the new language, not the cached one
        except grpc.aio.AioRpcError as err:
            # Signed out meanwhile, or identity unreachable: the cookie still switches this browser.
            log.info("language not kept on the user: %s", err.code().name)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, **COOKIE_FLAGS)
    return response
