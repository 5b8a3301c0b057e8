"""The staff console's team page (SPEC S1): the staff list, the invite form, role changes, deactivate (after a
confirmation page) and reactivate, reset MFA, resend an invitation. Admin only — and not because the page hides it:
identity refuses a technician every one of these calls (PERMISSION_DENIED), which the page shows as 403."""

from __future__ import annotations

import secrets

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, NOT_FOUND, split_field
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.render import Pages

router = APIRouter(prefix="/staff", include_in_schema=False)

ROLES = ("technician", "admin")
_DONE = {"invited", "role", "deactivated", "reactivated", "mfa_reset", "reinvited"}
MAX_EMAIL = 254
MAX_NAME = 200


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _language(request: Request) -> str:
    return "fr" if _pages(request).translator(request).lang == "fr" else "en"


async def _team_page(
    request: Request,
    session: Session,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    if session.principal.kind != "staff":
        return pages.error(request, FORBIDDEN, session=session)
    t = pages.translator(request)
    # Identity decides: a technician's call is PERMISSION_DENIED, shown as the 403 page.
    staff = await request.app.state.backends.identity.list_staff_users(session.principal_token)
    done = request.query_params.get("done", "")
    values = values or {}
    return pages.render(
        request,
        "staff/team.html",
        {
            "staff": staff,
            "me": session.principal.subject_id,
            "roles": ROLES,
            "errors": errors or {},
            "values": {"email": "", "name": "", "role": "technician", **values},
            # A new key per form shown; a resubmitted form (a retry) sends the same one and invites nobody twice.
            "idempotency_key": values.get("idempotency_key") or secrets.token_urlsafe(24),
            "done": t(f"staff.team.done.{done}") if done in _DONE else "",
        },
        session=session,
        status_code=status_code,
    )


@router.get("/team")
async def team(request: Request, session: StaffPage) -> Response:
    return await _team_page(request, session)


async def _form(request: Request) -> dict[str, str]:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return {k: field(form, k) for k in ("email", "name", "role", "idempotency_key", "active")}


def _refused(request: Request, session: Session, err: grpc.aio.AioRpcError) -> Response | None:
    if err.code() == grpc.StatusCode.PERMISSION_DENIED:
        return _pages(request).error(request, FORBIDDEN, session=session)
    if err.code() == grpc.StatusCode.NOT_FOUND:
        return _pages(request).error(request, NOT_FOUND, session=session)
    return None


@router.post("/team/invite")
async def invite(request: Request, session: StaffPage) -> Response:
    form = await _form(request)
    t = _pages(request).translator(request)
    email, name, role = form["email"].strip(), form["name"].strip(), form["role"]
    values = {"email": email[:MAX_EMAIL], "name": name[:MAX_NAME], "role": role, "idempotency_key": ""}
    key = form["idempotency_key"]
    values["idempotency_key"] = key if 16 <= len(key) <= 64 else ""
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = t("staff.team.email_required")
    elif len(email) > MAX_EMAIL:
        errors["email"] = t("staff.team.too_long", max=MAX_EMAIL)
    if len(name) > MAX_NAME:
        errors["name"] = t("staff.team.too_long", max=MAX_NAME)
    if role not in ROLES:
        errors["role"] = t("staff.team.role_required")
    if errors:
        return await _team_page(request, session, errors=errors, values=values, status_code=400)
    try:
        await request.app.state.backends.identity.invite_staff_user(
            session.principal_token,
            email=email,
            name=name,
            role=role,
            idempotency_key=values["idempotency_key"],
            language=_language(request),
        )
    except grpc.aio.AioRpcError as err:
        if (answer := _refused(request, session, err)) is not None:
            return answer
        if err.code() == grpc.StatusCode.ALREADY_EXISTS:
            errors = {"email": t("staff.team.email_taken")}
        elif err.code() == grpc.StatusCode.INVALID_ARGUMENT:
            where, detail = split_field(err.details() or "")
            errors = {where if where in ("email", "name", "role") else "email": detail}
        else:
            raise
        return await _team_page(request, session, errors=errors, values=values, status_code=400)
    return RedirectResponse("/staff/team?done=invited", status_code=303)


async def _member_action(request: Request, session: Session, call, done: str) -> Response:  # noqa: ANN001
    """Run one change to a staff member; a refusal the admin can act on (the last admin, itself) is the team page
    again with identity's reason."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        if (answer := _refused(request, session, err)) is not None:
            return answer
        if err.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
            return await _team_page(
                request, session, errors={"_form": split_field(err.details() or "")[1]}, status_code=409
            )
        raise
    return RedirectResponse(f"/staff/team?done={done}", status_code=303)


@router.post("/team/{staff_user_id}/role")
async def set_role(request: Request, staff_user_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    identity = request.app.state.backends.identity
    call = identity.set_staff_role(session.principal_token, staff_user_id=staff_user_id[:36], role=form["role"])
    return await _member_action(request, session, call, "role")


@router.get("/team/{staff_user_id}/deactivate")
async def deactivate_confirm(request: Request, staff_user_id: str, session: StaffPage) -> Response:
    """Deactivating ends the member's sessions at once: a page asks first."""
    pages = _pages(request)
    if session.principal.kind != "staff":
        return pages.error(request, FORBIDDEN, session=session)
    staff = await request.app.state.backends.identity.list_staff_users(session.principal_token)
    member = next((u for u in staff if u.id == staff_user_id), None)
    if member is None:
        return pages.error(request, NOT_FOUND, session=session)
    return pages.render(request, "staff/team_deactivate.html", {"member": member}, session=session)


@router.post("/team/{staff_user_id}/deactivate")
async def deactivate(request: Request, staff_user_id: str, session: StaffPage) -> Response:
    await _form(request)
    identity = request.app.state.backends.identity
    call = identity.set_staff_active(session.principal_token, staff_user_id=staff_user_id[:36], active=False)
    return await _member_action(request, session, call, "deactivated")


@router.post("/team/{staff_user_id}/reactivate")
async def reactivate(request: Request, staff_user_id: str, session: StaffPage) -> Response:
    await _form(request)
    identity = request.app.state.backends.identity
    call = identity.set_staff_active(session.principal_token, staff_user_id=staff_user_id[:36], active=True)
    return await _member_action(request, session, call, "reactivated")


@router.post("/team/{staff_user_id}/mfa-reset")
async def reset_mfa(request: Request, staff_user_id: str, session: StaffPage) -> Response:
    await _form(request)
    identity = request.app.state.backends.identity
    call = identity.reset_staff_mfa(session.principal_token, staff_user_id=staff_user_id[:36])
    return await _member_action(request, session, call, "mfa_reset")


@router.post("/team/{staff_user_id}/invitation")
async def reinvite(request: Request, staff_user_id: str, session: StaffPage) -> Response:
    await _form(request)
    identity = request.app.state.backends.identity
    call = identity.resend_staff_invitation(
        session.principal_token, staff_user_id=staff_user_id[:36], language=_language(request)
    )
    return await _member_action(request, session, call, "reinvited")
