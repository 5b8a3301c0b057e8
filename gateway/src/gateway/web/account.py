"""Account pages: forgotten password, reset with an emailed link, change password while signed in (SPEC P3)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from gateway.edge.csrf import CSRF_COOKIE, CSRF_FIELD, Csrf
from gateway.edge.errors import FORBIDDEN, split_field
from gateway.edge.sessions import SESSION_COOKIE, session_hash
from gateway.web.deps import COOKIE_FLAGS, PortalPage
from gateway.web.forms import check_csrf, field, read_form, safe_next
from gateway.web.render import Pages
from servicekit import permissions as perm

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

MAX_LOGIN = 320
MAX_PASSWORD = 1024
MIN_PASSWORD = 10
# Tokens are 43 URL-safe characters; anything much longer is not one of ours.
MAX_TOKEN = 128
_UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _anonymous_page(request: Request, template: str, context: dict, status_code: int = 200) -> Response:
    """A page for a browser that is not signed in: its forms carry the pre-sign-in CSRF token."""
    csrf: Csrf = request.app.state.csrf
    nonce = request.cookies.get(CSRF_COOKIE)
    new_nonce = not nonce or len(nonce) > 64
    if new_nonce:
        nonce = Csrf.new_nonce()
    response = _pages(request).render(
        request, template, context, csrf_token=csrf.for_nonce(nonce), status_code=status_code
    )
    if new_nonce:
        response.set_cookie(CSRF_COOKIE, nonce, **COOKIE_FLAGS)
    # The reset link's token must not travel on in a Referer header, even to our own other pages.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _password_errors(t, new: str, confirm: str) -> dict[str, str]:  # noqa: ANN001
    if len(new) < MIN_PASSWORD:
        return {"new_password": t("account.password.too_short", min=MIN_PASSWORD)}
    if len(new) > MAX_PASSWORD:
        return {"new_password": t("account.password.too_long", max=MAX_PASSWORD)}
    if new != confirm:
        return {"confirm_password": t("account.password.mismatch")}
    return {}


# --- forgotten password ---------------------------------------------------------------------------


@router.get("/forgot")
async def forgot_form(request: Request) -> Response:
    return _anonymous_page(request, "account/forgot.html", {"login": "", "sent": False, "errors": {}})


@router.post("/forgot")
async def forgot_submit(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    t = _pages(request).translator(request)
    login = field(form, "login").strip()
    if not login or len(login) > MAX_LOGIN:
        errors = {"login": t("account.forgot.login_required")}
        return _anonymous_page(request, "account/forgot.html", {"login": "", "sent": False, "errors": errors}, 400)
    try:
        # The email comes in the language of the page that asked for it.
        await request.app.state.backends.identity.request_password_reset(
            login=login, client_address=_address(request), language=t.lang
        )
    except grpc.aio.AioRpcError as err:
        if err.code() not in _UNAVAILABLE:
            raise
        errors = {"_form": t("error.backend-unavailable.detail")}
        return _anonymous_page(request, "account/forgot.html", {"login": login, "sent": False, "errors": errors}, 503)
    # The same answer whether or not the login exists.
    return _anonymous_page(request, "account/forgot.html", {"login": "", "sent": True, "errors": {}})


# --- reset with an emailed link -------------------------------------------------------------------


async def _link_works(request: Request, token: str) -> bool:
    if not token or len(token) > MAX_TOKEN:
        return False
    try:
        await request.app.state.backends.identity.check_password_token(token)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
            return False
        raise
    return True


def _reset_page(
    request: Request, token: str, errors: dict[str, str], status_code: int = 200, *, invitation: bool = False
) -> Response:
    template = "account/invitation.html" if invitation else "account/reset.html"
    return _anonymous_page(request, template, {"token": token, "errors": errors}, status_code)


def _dead_link(request: Request) -> Response:
    return _anonymous_page(request, "account/link_dead.html", {}, 410)


async def _set_password_form(request: Request, token: str, *, invitation: bool) -> Response:
    if not await _link_works(request, token):
        return _dead_link(request)
    return _reset_page(request, token, {}, invitation=invitation)


async def _set_password_submit(request: Request, *, invitation: bool) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    t = _pages(request).translator(request)
    token = field(form, "token")
    if not token or len(token) > MAX_TOKEN:
        return _dead_link(request)
    new, confirm = field(form, "new_password"), field(form, "confirm_password")
    errors = _password_errors(t, new, confirm)
    if errors:
        return _reset_page(request, token, errors, 400, invitation=invitation)
    try:
        await request.app.state.backends.identity.set_password_with_token(
            token=token, new_password=new, client_address=_address(request)
        )
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            return _dead_link(request)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            _, detail = split_field(err.details() or "")
            return _reset_page(request, token, {"new_password": detail}, 400, invitation=invitation)
        if code in _UNAVAILABLE:
            errors = {"_form": t("error.backend-unavailable.detail")}
            return _reset_page(request, token, errors, 503, invitation=invitation)
        raise
    # Every session of the user ended with the new password, this browser's included.
    stale = request.cookies.get(SESSION_COOKIE)
    if stale:
        request.app.state.sessions.drop(stale)
    response = RedirectResponse("/reset/done", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **COOKIE_FLAGS)
    return response


@router.get("/reset")
async def reset_form(request: Request, token: str = "") -> Response:
    return await _set_password_form(request, token, invitation=False)


@router.post("/reset")
async def reset_submit(request: Request) -> Response:
    return await _set_password_submit(request, invitation=False)


@router.get("/reset/done")
async def reset_done(request: Request) -> Response:
    return _anonymous_page(request, "account/reset_done.html", {})


# --- accept an invitation (SPEC P2): the same single-use link, to choose a first password ----------


@router.get("/invitation")
async def invitation_form(request: Request, token: str = "") -> Response:
    return await _set_password_form(request, token, invitation=True)


@router.post("/invitation")
async def invitation_submit(request: Request) -> Response:
    return await _set_password_submit(request, invitation=True)


# --- the header's Password reset: a reset link to the signed-in user's own email (SPEC P3) ------------------


@router.get("/account/password-reset")
async def reset_email_page(request: Request, session: PortalPage) -> Response:
    """What the header's Password reset button did (`?done=sent`: "We emailed you a link"), or the button again."""
    if session.principal.is_link:
        return _pages(request).error(request, FORBIDDEN, session=session)
    sent = request.query_params.get("done", "") == "sent"
    return _pages(request).render(request, "account/reset_email.html", {"sent": sent, "errors": {}}, session=session)


@router.post("/account/password-reset")
async def reset_email_submit(request: Request, session: PortalPage) -> Response:
    """Email the signed-in user a reset link, through identity's forgotten-password flow (the same mail, the same
    limits), in the page's language."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if session.principal.is_link or not session.principal.email:
        return _pages(request).error(request, FORBIDDEN, session=session)
    t = _pages(request).translator(request)
    try:
        await request.app.state.backends.identity.request_password_reset(
            login=session.principal.email, client_address=_address(request), language=t.lang
        )
    except grpc.aio.AioRpcError as err:
        if err.code() not in _UNAVAILABLE:
            raise
        errors = {"_form": t("error.backend-unavailable.detail")}
        return _pages(request).render(
            request, "account/reset_email.html", {"sent": False, "errors": errors}, session=session, status_code=503
        )
    return RedirectResponse("/account/password-reset?done=sent", status_code=303)


# --- change password while signed in -------------------------------------------------------------


def _change_page(request: Request, session, errors: dict[str, str], done: bool, status_code: int = 200) -> Response:  # noqa: ANN001
    return _pages(request).render(
        request, "account/password.html", {"errors": errors, "done": done}, session=session, status_code=status_code
    )


@router.get("/account/password")
async def change_form(request: Request, session: PortalPage) -> Response:
    if session.principal.is_link:
        return _pages(request).error(request, FORBIDDEN, session=session)
    return _change_page(request, session, {}, done=False)


@router.post("/account/password")
async def change_submit(request: Request, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if session.principal.is_link:
        return _pages(request).error(request, FORBIDDEN, session=session)
    t = _pages(request).translator(request)
    current = field(form, "current_password")
    new, confirm = field(form, "new_password"), field(form, "confirm_password")
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = t("account.password.current_required")
    errors.update(_password_errors(t, new, confirm))
    if errors:
        return _change_page(request, session, errors, done=False, status_code=400)
    try:
        await request.app.state.backends.identity.change_password(
            session.principal_token, current_password=current, new_password=new, client_address=_address(request)
        )
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            name, detail = split_field(err.details() or "")
            if name == "current_password":
                detail = t("account.password.current_wrong")
            which = name if name in ("current_password", "new_password") else "_form"
            return _change_page(request, session, {which: detail}, done=False, status_code=400)
        if code in _UNAVAILABLE:
            errors = {"_form": t("error.backend-unavailable.detail")}
            return _change_page(request, session, errors, done=False, status_code=503)
        raise
    log.info("password changed by portal user %s", session.principal.subject_id)
    return _change_page(request, session, {}, done=True)


# --- MFA: the second step of a sign-in, and the enrolment it may require (SPEC P4; staff, S1) -------------


@dataclass(frozen=True)
class MfaFlow:
    """Where a sign-in's second step lives: the portal's pages, or the staff console's under /staff (its cookie)."""

    cookie: str
    cookie_flags: dict
    prefix: str
    signin_path: str
    home: str

    def next_path(self, value: str | None) -> str:
        target = safe_next(value)
        if self.prefix and not target.startswith(self.prefix):
            return self.home
        return target


PORTAL_MFA = MfaFlow(cookie=SESSION_COOKIE, cookie_flags=COOKIE_FLAGS, prefix="", signin_path="/signin", home="/")


def _pending_token(request: Request, flow: MfaFlow = PORTAL_MFA) -> str | None:
    token = request.cookies.get(flow.cookie)
    return token if token and len(token) <= MAX_TOKEN else None


def _pending_page(
    request: Request, token: str, template: str, context: dict, status_code: int = 200, flow: MfaFlow = PORTAL_MFA
) -> Response:
    """A page for a session still waiting for its second factor: its CSRF token is bound to that session."""
    csrf: Csrf = request.app.state.csrf
    return _pages(request).render(
        request,
        template,
        {**context, "prefix": flow.prefix},
        csrf_token=csrf.for_session(session_hash(token)),
        status_code=status_code,
    )


def _restart_sign_in(flow: MfaFlow = PORTAL_MFA) -> Response:
    response = RedirectResponse(flow.signin_path, status_code=303)
    response.delete_cookie(flow.cookie, **flow.cookie_flags)
    return response


# What segno's svg_inline makes: an <svg> with one path of move/line commands, nothing else.
_QR_SVG = re.compile(
    r'^<svg width="\d+" height="\d+" class="segno"><path transform="scale\(\d+\)" class="qrline" '
    r'stroke="#000" d="[0-9Mmhv .-]+"/></svg>$'
)


def _qr_markup(svg: str) -> Markup | str:
    """The QR code inline (pages allow no data: images); anything but segno's exact shape is dropped."""
    return Markup(svg) if _QR_SVG.match(svg) else ""  # noqa: S704 - checked against the exact shape above


async def mfa_code_form(request: Request, next_value: str, flow: MfaFlow) -> Response:
    token = _pending_token(request, flow)
    if token is None:
        return RedirectResponse(flow.signin_path, status_code=303)
    context = {"next": flow.next_path(next_value), "errors": {}}
    return _pending_page(request, token, "account/mfa.html", context, flow=flow)


async def mfa_code_submit(request: Request, flow: MfaFlow) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), flow.cookie)
    token = _pending_token(request, flow)
    if token is None:
        return RedirectResponse(flow.signin_path, status_code=303)
    t = _pages(request).translator(request)
    next_path = flow.next_path(field(form, "next"))
    code = field(form, "code").strip()[:64]
    if not code:
        errors = {"code": t("account.mfa.code_required")}
        return _pending_page(request, token, "account/mfa.html", {"next": next_path, "errors": errors}, 400, flow)
    try:
        await request.app.state.backends.identity.verify_mfa_code(token, code=code, client_address=_address(request))
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            errors = {"code": t("account.mfa.wrong")}
            return _pending_page(request, token, "account/mfa.html", {"next": next_path, "errors": errors}, 400, flow)
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION):
            return _restart_sign_in(flow)
        raise
    return RedirectResponse(next_path, status_code=303)


async def mfa_enrol_form(request: Request, next_value: str, flow: MfaFlow) -> Response:
    token = _pending_token(request, flow)
    if token is None:
        return RedirectResponse(flow.signin_path, status_code=303)
    next_path = flow.next_path(next_value)
    try:
        enrolment = await request.app.state.backends.identity.begin_mfa_enrolment(token)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            return _restart_sign_in(flow)
        if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            return RedirectResponse(f"{flow.prefix}/mfa?next={quote(next_path, safe='/')}", status_code=303)
        raise
    qr = _qr_markup(enrolment.qr_svg)
    context = {"next": next_path, "errors": {}, "secret": enrolment.secret, "qr_svg": qr}
    return _pending_page(request, token, "account/enrol.html", context, flow=flow)


async def mfa_enrol_submit(request: Request, flow: MfaFlow) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), flow.cookie)
    token = _pending_token(request, flow)
    if token is None:
        return RedirectResponse(flow.signin_path, status_code=303)
    t = _pages(request).translator(request)
    next_path = flow.next_path(field(form, "next"))
    code = field(form, "code").strip()[:64]
    try:
        codes = await request.app.state.backends.identity.confirm_mfa_enrolment(
            token, code=code, client_address=_address(request)
        )
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            # A new secret is made on the next visit: the page offers to start again rather than keep this one.
            context = {"next": next_path, "errors": {"code": t("account.mfa.wrong")}, "secret": "", "qr_svg": ""}
            return _pending_page(request, token, "account/enrol.html", context, 400, flow)
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION):
            return _restart_sign_in(flow)
        raise
    # A cached principal from before the enrolment would still say it is off (the header's opt-in link).
    request.app.state.sessions.drop(token)
    session = await request.app.state.sessions.resolve(token)
    return _pages(request).render(
        request, "account/recovery_codes.html", {"codes": codes, "next": next_path}, session=session
    )


@router.get("/mfa")
async def mfa_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
    return await mfa_code_form(request, next, PORTAL_MFA)


@router.post("/mfa")
async def mfa_submit(request: Request) -> Response:
    return await mfa_code_submit(request, PORTAL_MFA)


@router.get("/mfa/enrol")
async def enrol_form(request: Request, next: str = "/") -> Response:  # noqa: A002
    return await mfa_enrol_form(request, next, PORTAL_MFA)


@router.post("/mfa/enrol")
async def enrol_submit(request: Request) -> Response:
    return await mfa_enrol_submit(request, PORTAL_MFA)


# --- privacy settings (SPEC P10) ------------------------------------------------------------------------

PRIVACY_FIELDS = ("receive_billing_emails", "receive_marketing_emails", "receive_report_emails")


def _privacy_page(request: Request, session, settings, done: bool) -> Response:  # noqa: ANN001
    values = {name: getattr(settings, name) for name in PRIVACY_FIELDS}
    return _pages(request).render(
        request,
        "account/privacy.html",
        {"values": values, "fields": PRIVACY_FIELDS, "done": done},
        session=session,
    )


@router.get("/account/privacy")
async def privacy_form(request: Request, session: PortalPage) -> Response:
    if not session.principal.has(perm.PRIVACY_SETTINGS_MANAGE):
        return _pages(request).error(request, FORBIDDEN, session=session)
    settings = await request.app.state.backends.identity.get_privacy_settings(session.principal_token)
    return _privacy_page(request, session, settings, done=False)


@router.post("/account/privacy")
async def privacy_submit(request: Request, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if not session.principal.has(perm.PRIVACY_SETTINGS_MANAGE):
        return _pages(request).error(request, FORBIDDEN, session=session)
    # An unticked checkbox sends nothing: absent means "no".
    values = {name: field(form, name) == "on" for name in PRIVACY_FIELDS}
    settings = await request.app.state.backends.identity.update_privacy_settings(session.principal_token, **values)
    return _privacy_page(request, session, settings, done=True)
