"""Portal pages: sign-in, home, new ticket, sign-out, language switch (other ticket pages: web/tickets.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.api.schemas import DEFAULT_PRIORITY, DESCRIPTION_MAX, PRIORITIES, SUBJECT_MAX
from gateway.clients.identity import AUDIENCE_PORTAL, STEP_MFA_CODE, STEP_MFA_ENROL
from gateway.clients.schemas import Asset
from gateway.edge.csrf import CSRF_COOKIE, CSRF_FIELD, Csrf
from gateway.edge.errors import FORBIDDEN, NOT_FOUND, UNAVAILABLE, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import SESSION_COOKIE, Session
from gateway.home import load_home
from gateway.web import billing_rows, support_window
from gateway.web.deps import COOKIE_FLAGS, PortalPage, backends, csrf, pages, sessions
from gateway.web.forms import check_csrf, field, read_form, safe_next
from gateway.web.i18n import LANG_COOKIE, LANGUAGES
from gateway.web.tickets import attach_after_create
from gateway.web.views import home_view
from servicekit import permissions as perm

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

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


# --- portal pages ---------------------------------------------------------------------------------


@router.get("/", name="home")
async def home(request: Request, session: PortalPage) -> Response:
    sections = await load_home(backends(request), session)
    page = pages(request)
    t = page.translator(request)
    return page.render(
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
        page = await backends(request).assets.list_assets(session.principal_token, page_size=ASSET_CHOICES_MAX)
    except grpc.aio.AioRpcError:
        return []
    return page.items


async def _ticket_form(
    request: Request, session: Session, form: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    return pages(request).render(
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
async def new_ticket_form(request: Request, session: PortalPage) -> Response:
    if not session.principal.has(perm.TICKETS_CREATE):
        return pages(request).error(request, FORBIDDEN, session=session)
    form = {
        "subject": "",
        "description": "",
        "priority": DEFAULT_PRIORITY,
        "asset_id": "",
        # Generated with the form, so a double submit of this form creates one ticket.
        "idempotency_key": new_key(),
    }
    return await _ticket_form(request, session, form, {}, 200)


@router.post("/tickets/new")
async def new_ticket_submit(request: Request, session: PortalPage) -> Response:
    raw = await read_form(request, max_files=1)
    check_csrf(request, raw.get(CSRF_FIELD))
    if not session.principal.has(perm.TICKETS_CREATE):
        return pages(request).error(request, FORBIDDEN, session=session)
    t = pages(request).translator(request)
    form = {
        "subject": field(raw, "subject").strip(),
        "description": field(raw, "description").strip(),
        "priority": field(raw, "priority").strip() or DEFAULT_PRIORITY,
        "asset_id": field(raw, "asset_id").strip()[:64],
        "idempotency_key": field(raw, "idempotency_key"),
    }
    if not IDEMPOTENCY_KEY.match(form["idempotency_key"]):
        form["idempotency_key"] = new_key()
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
        ticket = await backends(request).tickets.create_ticket(
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
        refused = await attach_after_create(request, session, ticket.id, filename, await upload.read())
        if refused is not None:
            return refused
    return RedirectResponse(f"/tickets/{ticket.id}", status_code=303)
