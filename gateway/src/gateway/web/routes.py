"""Portal pages: sign-in, home, new ticket, sign-out, language switch (other ticket pages: web/tickets.py)."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from gateway.api.errors import FORBIDDEN, NOT_FOUND, UNAVAILABLE, split_field
from gateway.api.schemas import DEFAULT_PRIORITY, DESCRIPTION_MAX, PRIORITIES, SUBJECT_MAX
from gateway.clients import Backends
from gateway.clients.identity import AUDIENCE_PORTAL, STEP_MFA_CODE, STEP_MFA_ENROL
from gateway.clients.schemas import Asset
from gateway.csrf import CSRF_COOKIE, CSRF_FIELD, Csrf
from gateway.home import load_home
from gateway.sessions import SESSION_COOKIE, PrincipalCache, Session, session_hash
from gateway.web import billing_rows, support_window
from gateway.web.i18n import LANG_COOKIE, LANGUAGES
from gateway.web.render import Pages
from gateway.web.views import home_view
from servicekit import permissions as perm

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_TICKET_FIELDS = ("subject", "description", "priority", "issue_type", "asset_id")
ASSET_CHOICES_MAX = 100
# What a failed SignIn shows: the translation key of the message and the HTTP status of the re-rendered form.
SIGN_IN_FAILURES = {
    grpc.StatusCode.UNAUTHENTICATED: ("signin.wrong", 401),
    grpc.StatusCode.INVALID_ARGUMENT: ("signin.wrong", 401),
    grpc.StatusCode.NOT_FOUND: ("signin.wrong", 401),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ("signin.locked", 429),
    grpc.StatusCode.PERMISSION_DENIED: ("signin.refused", 403),
    grpc.StatusCode.FAILED_PRECONDITION: ("signin.refused", 403),
}
COOKIE_FLAGS = {"path": "/", "secure": True, "httponly": True, "samesite": "lax"}
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


def safe_next(value: str | None) -> str:
    """Only same-site paths may be a post-sign-in destination (no open redirect)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(c in value for c in "\r\n\t\\") or ":" in value.split("?", 1)[0]:
        return "/"
    return value


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def _sessions(request: Request) -> PrincipalCache:
    return request.app.state.sessions


def _csrf(request: Request) -> Csrf:
    return request.app.state.csrf


async def cookie_session(request: Request, cookie: str, signin_path: str) -> Session:
    """The session behind `cookie`, or SignInRequired (redirect to `signin_path`)."""
    token = request.cookies.get(cookie)
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(next_path, signin_path=signin_path, cookie=cookie)
    try:
        session = await _sessions(request).resolve(token)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            step = _PENDING_STEPS.get(split_field(err.details() or "")[0] or "")
            if step and cookie == SESSION_COOKIE:
                # Signed in with the password but not yet with the second factor: back to that step, cookie kept.
                raise SignInRequired(next_path, signin_path=step, cookie=cookie) from None
            # SPEC P7: a closed support window signs the browser out; the sign-in page says why.
            reason = support_window.REASON if support_window.closed(err.details()) else ""
            raise SignInRequired(
                next_path, clear_cookie=True, signin_path=signin_path, cookie=cookie, reason=reason
            ) from None
        raise
    request.state.session = session
    return session


async def page_session(request: Request) -> Session:
    return await cookie_session(request, SESSION_COOKIE, "/signin")


PageSession = Annotated[Session, Depends(page_session)]


def check_csrf(request: Request, submitted: object, session_cookie: str = SESSION_COOKIE) -> None:
    cookie = request.cookies.get(session_cookie)
    ok = isinstance(submitted, str) and _csrf(request).check(
        submitted,
        session_hash=session_hash(cookie) if cookie else None,
        nonce=request.cookies.get(CSRF_COOKIE),
    )
    if not ok:
        raise CsrfRejected()


async def read_form(request: Request):  # noqa: ANN202 - starlette FormData
    # A field may be as large as the body limit: our own checks then answer "too long" next to the field.
    limit = request.app.state.settings.max_body_bytes
    return await request.form(max_files=0, max_fields=50, max_part_size=limit)


def _field(form, name: str) -> str:  # noqa: ANN001 - starlette FormData
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


# --- sign-in and sign-out -------------------------------------------------------------------------


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
    response = _pages(request).render(
        request,
        "signin.html",
        {"login": login, "message": message, "next": next_path, "action": action, "heading": heading},
        csrf_token=_csrf(request).for_nonce(nonce),
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
            await _sessions(request).resolve(token)
        except grpc.aio.AioRpcError:
            pass
        else:
            return RedirectResponse(safe_next(next), status_code=303)
    message = _pages(request).translator(request)("signin.support_closed") if why == support_window.REASON else ""
    return signin_page(request, next_path=safe_next(next), message=message)


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    t = _pages(request).translator(request)
    login, password = _field(form, "login").strip(), _field(form, "password")
    next_path = safe_next(_field(form, "next"))
    if not login or not password:
        return signin_page(request, login=login, message=t("signin.missing"), next_path=next_path, status_code=400)
    if len(login) > 320 or len(password) > 1024:
        return signin_page(request, login="", message=t("signin.wrong"), next_path=next_path, status_code=401)
    try:
        result = await _backends(request).identity.sign_in(
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
        _sessions(request).drop(token)
        try:
            await _backends(request).identity.sign_out(token)
        except grpc.aio.AioRpcError as err:
            # The cookie goes regardless; an identity outage must not keep the browser signed in locally.
            log.warning("sign-out not confirmed by identity", extra={"code": err.code().name})
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **COOKIE_FLAGS)
    return response


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:  # noqa: A002
    if code not in LANGUAGES:
        return _pages(request).error(request, NOT_FOUND)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, **COOKIE_FLAGS)
    return response


# --- portal pages ---------------------------------------------------------------------------------


@router.get("/", name="home")
async def home(request: Request, session: PageSession) -> Response:
    sections = await load_home(_backends(request), session)
    pages = _pages(request)
    t = pages.translator(request)
    return pages.render(
        request,
        "home.html",
        {
            "sections": home_view(t, sections),
            "billing": billing_rows.home_sections(t, session, sections.billing),
            "can_create": session.principal.has(perm.TICKETS_CREATE),
        },
        session=session,
    )


async def _asset_choices(request: Request, session: Session) -> list[Asset]:
    """The assets the user may pick for a new ticket (T3, T8): those it may see; none without an asset view, or
    while assets is unavailable (the form then simply has no picker)."""
    p = session.principal
    if not (p.has(perm.ASSETS_VIEW_ALL) or p.has(perm.ASSETS_VIEW_MINE)):
        return []
    try:
        page = await _backends(request).assets.list_assets(session.principal_token, page_size=ASSET_CHOICES_MAX)
    except grpc.aio.AioRpcError:
        return []
    return page.items


async def _ticket_form(
    request: Request, session: Session, form: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    return _pages(request).render(
        request,
        "ticket_new.html",
        {
            "form": form,
            "errors": errors,
            "priorities": PRIORITIES,
            "limits": {"subject": SUBJECT_MAX, "description": DESCRIPTION_MAX},
            "assets": await _asset_choices(request, session),
        },
        session=session,
        status_code=status,
    )


@router.get("/tickets/new")
async def new_ticket_form(request: Request, session: PageSession) -> Response:
    if not session.principal.has(perm.TICKETS_CREATE):
        return _pages(request).error(request, FORBIDDEN, session=session)
    form = {
        "subject": "",
        "description": "",
        "priority": DEFAULT_PRIORITY,
        "asset_id": "",
        # Generated with the form, so a double submit of this form creates one ticket.
        "idempotency_key": secrets.token_urlsafe(24),
    }
    return await _ticket_form(request, session, form, {}, 200)


@router.post("/tickets/new")
async def new_ticket_submit(request: Request, session: PageSession) -> Response:
    limit = request.app.state.settings.max_body_bytes
    raw = await request.form(max_files=1, max_fields=50, max_part_size=limit)
    check_csrf(request, raw.get(CSRF_FIELD))
    if not session.principal.has(perm.TICKETS_CREATE):
        return _pages(request).error(request, FORBIDDEN, session=session)
    t = _pages(request).translator(request)
    form = {
        "subject": _field(raw, "subject").strip(),
        "description": _field(raw, "description").strip(),
        "priority": _field(raw, "priority").strip() or DEFAULT_PRIORITY,
        "asset_id": _field(raw, "asset_id").strip()[:64],
        "idempotency_key": _field(raw, "idempotency_key"),
    }
    if not _IDEMPOTENCY_KEY.match(form["idempotency_key"]):
        form["idempotency_key"] = secrets.token_urlsafe(24)
    errors: dict[str, str] = {}
    if not form["subject"]:
        errors["subject"] = t("tickets.subject.required")
    elif len(form["subject"]) > SUBJECT_MAX:
        errors["subject"] = t("tickets.subject.too_long", max=SUBJECT_MAX)
        form["subject"] = form["subject"][:SUBJECT_MAX]
    if not form["description"]:
        errors["description"] = t("tickets.description.required")
    elif len(form["description"]) > DESCRIPTION_MAX:
        errors["description"] = t("tickets.description.too_long", max=DESCRIPTION_MAX)
    if form["priority"] not in PRIORITIES:
        errors["priority"] = t("tickets.priority.invalid")
        form["priority"] = DEFAULT_PRIORITY
    if errors:
        return await _ticket_form(request, session, form, errors, 400)
    site_id = ""
    if form["asset_id"]:
        # The ticket is at the asset's site; the tickets service checks both are the customer's.
        chosen = [a for a in await _asset_choices(request, session) if a.id == form["asset_id"]]
        site_id = chosen[0].site_id if chosen else ""
    try:
        ticket = await _backends(request).tickets.create_ticket(
            session.principal_token,
            subject=form["subject"],
            description=form["description"],
            priority=form["priority"],
            idempotency_key=form["idempotency_key"],
            asset_id=form["asset_id"],
            site_id=site_id,
        )
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            name, detail = split_field(err.details() or "")
            errors[name if name in _TICKET_FIELDS else "_form"] = (
                t("tickets.asset.invalid") if name in ("asset_id", "site_id") else detail
            )
            return await _ticket_form(request, session, form, errors, 400)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            errors["_form"] = t("error.backend-unavailable.detail")
            return await _ticket_form(request, session, form, errors, UNAVAILABLE.status)
        raise
    upload = raw.get("file")
    filename = getattr(upload, "filename", "") or ""
    if filename and hasattr(upload, "read"):
        # Imported here: gateway.web.tickets builds on this module (PageSession, check_csrf).
        from gateway.web.tickets import attach_after_create

        refused = await attach_after_create(request, session, ticket.id, filename, await upload.read())
        if refused is not None:
            return refused
    return RedirectResponse(f"/tickets/{ticket.id}", status_code=303)


__all__ = [
    "CsrfRejected",
    "PageSession",
    "SignInRequired",
    "check_csrf",
    "cookie_session",
    "page_session",
    "read_form",
    "router",
]
