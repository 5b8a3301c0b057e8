"""What portal and staff pages depend on: the cookie session of each audience, and how a page that needs one
answers when there is none (a redirect to that audience's sign-in page)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import grpc
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from gateway.clients import Backends
from gateway.edge.csrf import Csrf
from gateway.edge.errors import CSRF, FORBIDDEN, Kind, split_field
from gateway.edge.sessions import RESOLVED_STATE_KEY, SESSION_COOKIE, PrincipalCache, Session
from gateway.web import support_window
from gateway.web.render import Pages

COOKIE_FLAGS = {"path": "/", "secure": True, "httponly": True, "samesite": "lax"}
# Staff sessions live in their own cookie, scoped to /staff, so a staff sign-in never turns the portal pages
# into a staff view and the two can be open side by side.
STAFF_COOKIE = "staff_session"
STAFF_SIGNIN = "/staff/signin"
STAFF_COOKIE_FLAGS = {"path": "/staff", "secure": True, "httponly": True, "samesite": "lax"}
# Where a session still waiting for its second factor (identity's detail field) is sent back to.
_PENDING_STEPS = {"mfa_pending": "/mfa", "mfa_enrol_pending": "/mfa/enrol"}


class SignInRequired(Exception):
    """The page needs a signed-in browser; answered with a redirect to the sign-in page."""

    def __init__(
        self,
        next_path: str,
        *,
        clear_cookie: bool = False,
        signin_path: str = "/signin",
        cookie: str = SESSION_COOKIE,
        reason: str = "",
    ) -> None:
        super().__init__(next_path)
        self.reason = reason
        self.next_path = next_path
        self.clear_cookie = clear_cookie
        self.signin_path = signin_path
        self.cookie = cookie


class CsrfRejected(Exception):
    """A form post without a valid CSRF token; answered with a 403 page."""


def pages(request: Request) -> Pages:
    return request.app.state.pages


def backends(request: Request) -> Backends:
    return request.app.state.backends


def sessions(request: Request) -> PrincipalCache:
    return request.app.state.sessions


def csrf(request: Request) -> Csrf:
    return request.app.state.csrf


async def cookie_session(request: Request, cookie: str, signin_path: str) -> Session:
    """The session behind `cookie`, or SignInRequired (redirect to `signin_path`)."""
    token = request.cookies.get(cookie)
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(next_path, signin_path=signin_path, cookie=cookie)
    try:
        resolved = getattr(request.state, RESOLVED_STATE_KEY, None)
        session = resolved[1] if resolved and resolved[0] == token else await sessions(request).resolve(token)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            step = _PENDING_STEPS.get(split_field(err.details() or "")[0] or "")
            if step and cookie in (SESSION_COOKIE, STAFF_COOKIE):
                # Signed in with the password but not yet with the second factor: back to that step, cookie kept.
                # Staff (SPEC S1) have the same steps under /staff.
                step = f"/staff{step}" if cookie == STAFF_COOKIE else step
                raise SignInRequired(next_path, signin_path=step, cookie=cookie) from None
            # SPEC P7: a closed support window signs the browser out; the sign-in page says why.
            reason = support_window.REASON if support_window.closed(err.details()) else ""
            raise SignInRequired(
                next_path, clear_cookie=True, signin_path=signin_path, cookie=cookie, reason=reason
            ) from None
        raise
    request.state.session = session
    return session


async def portal_page(request: Request) -> Session:
    return await cookie_session(request, SESSION_COOKIE, "/signin")


class NotStaff(Exception):
    """A session in the staff cookie whose principal is not staff (a portal token put there): the console refuses it
    on every page, with a 403 page; the services refuse it too."""


async def staff_page(request: Request) -> Session:
    session = await cookie_session(request, STAFF_COOKIE, STAFF_SIGNIN)
    if not session.principal.is_staff:
        raise NotStaff()
    return session


PortalPage = Annotated[Session, Depends(portal_page)]
StaffPage = Annotated[Session, Depends(staff_page)]


def signin_redirect(
    next_path: str,
    *,
    clear_cookie: bool,
    signin_path: str = "/signin",
    cookie: str = SESSION_COOKIE,
    reason: str = "",
) -> Response:
    home = signin_path.removesuffix("signin").rstrip("/") or "/"
    target = signin_path if next_path in ("", "/", home) else f"{signin_path}?next={quote(next_path, safe='/')}"
    if reason:
        target += f"{'&' if '?' in target else '?'}why={reason}"
    response = RedirectResponse(target, status_code=303)
    if clear_cookie:
        response.delete_cookie(cookie, **(STAFF_COOKIE_FLAGS if cookie == STAFF_COOKIE else COOKIE_FLAGS))
    return response


async def quiet_session(request: Request) -> Session | None:
    """The session a page's error is shown with, so an error page (a 404 for a path no route knows, a CSRF
    refusal) keeps the signed-in header: the one a page dependency resolved, else the cookie's (the staff
    cookie under /staff) when it is still valid; never a redirect or an error of its own."""
    found = getattr(request.state, "session", None)
    if found is not None:
        return found
    staff = request.url.path.startswith("/staff")
    token = request.cookies.get(STAFF_COOKIE if staff else SESSION_COOKIE)
    if not token:
        return None
    try:
        session = await sessions(request).resolve(token)
    except grpc.aio.AioRpcError:
        return None
    return session if session.principal.is_staff == staff else None


class PageErrors:
    """How a page answers an error the edge caught (edge.errors.install_handlers calls these for non-API paths)."""

    @staticmethod
    async def error(request: Request, kind: Kind) -> Response:
        return pages(request).error(request, kind, session=await quiet_session(request))

    @staticmethod
    def problem_words(request: Request, kind: Kind) -> tuple[str, str] | None:
        t = pages(request).translator(request)
        title = t.table.get(f"error.{kind.slug}.title")
        if t.lang == "en" or not isinstance(title, str):
            return None
        return title, t(f"error.{kind.slug}.detail")

    @staticmethod
    def signed_out(request: Request) -> Response:
        """A backend said the session is no longer valid: drop it and go to this audience's sign-in page."""
        staff = request.url.path.startswith("/staff")
        cookie = STAFF_COOKIE if staff else SESSION_COOKIE
        token = request.cookies.get(cookie)
        if token:
            sessions(request).drop(token)
        return signin_redirect(
            request.url.path, clear_cookie=True, signin_path=STAFF_SIGNIN if staff else "/signin", cookie=cookie
        )


def install_handlers(app: FastAPI) -> None:
    """The answers to the two exceptions page dependencies raise."""

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        return signin_redirect(
            exc.next_path,
            clear_cookie=exc.clear_cookie,
            signin_path=exc.signin_path,
            cookie=exc.cookie,
            reason=exc.reason,
        )

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        return await PageErrors.error(request, CSRF)

    @app.exception_handler(NotStaff)
    async def not_staff(request: Request, exc: NotStaff) -> Response:
        return await PageErrors.error(request, FORBIDDEN)
