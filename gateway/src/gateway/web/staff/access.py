"""The staff console's access pages (issue 12): identity's audit log with filters, and the permission groups (SPEC
P5, S2) — every group with its members' count, and an editor with the whole permission catalogue as checkboxes; new,
rename, change, delete (after a confirmation page, only a group nobody is in). The two built-in groups are shown read
only. Identity decides every write (a built-in group, a duplicate name, a group in use are refused there); these
pages show its reason next to the form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.clients import Backends
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, NOT_FOUND, split_field
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from servicekit import permissions as perm

router = APIRouter(prefix="/staff", include_in_schema=False)

_DONE = {"created", "saved", "deleted"}
# What identity's refusal of a write means on the form; any other code is an error page.
_FORM_ERRORS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
)


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def catalogue(t: Translator, chosen: set[str]) -> list[dict]:
    """The permission catalogue in SPEC P5's order, grouped by its area ("Tickets", "Invoices" …)."""
    areas: dict[str, list[dict]] = {}
    for name, label in perm.CATALOGUE.items():
        area, _, action = label.partition(" - ")
        areas.setdefault(area, []).append(
            {"name": name, "label": t.table.get(f"perm.{name}") or label, "action": action, "checked": name in chosen}
        )
    return [{"area": t.table.get(f"perm.area.{area}") or area, "items": items} for area, items in areas.items()]


async def _groups(request: Request, session: Session):  # noqa: ANN202
    return await _backends(request).identity.list_permission_groups(session.principal_token)


def _refused(err: grpc.aio.AioRpcError) -> bool:
    return err.code() == grpc.StatusCode.PERMISSION_DENIED


@router.get("/groups")
async def groups(request: Request, session: StaffPage) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "staff/groups.html",
        {"groups": await _groups(request, session), "done": t(f"staff.groups.done.{done}") if done in _DONE else ""},
        session=session,
    )


async def _editor(
    request: Request,
    session: Session,
    *,
    group=None,  # noqa: ANN001 - portal.identity.v1.PermissionGroup, None for a new one
    name: str = "",
    chosen: set[str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    if chosen is None:
        chosen = set(group.permissions) if group is not None else set()
    return pages.render(
        request,
        "staff/group.html",
        {
            "group": group,
            "name": name or (group.name if group is not None else ""),
            "areas": catalogue(t, chosen),
            "error": error,
        },
        session=session,
        status_code=status_code,
    )


async def _find(request: Request, session: Session, group_id: str):  # noqa: ANN202
    return next((g for g in await _groups(request, session) if g.id == group_id), None)


@router.get("/groups/new")
async def new_group(request: Request, session: StaffPage) -> Response:
    return await _editor(request, session)


@router.get("/groups/{group_id}")
async def edit_group(request: Request, group_id: str, session: StaffPage) -> Response:
    group = await _find(request, session, group_id)
    if group is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    return await _editor(request, session, group=group)


async def _save(request: Request, session: Session, group_id: str | None) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    name = field(form, "name").strip()
    chosen = {p for p in form.getlist("permission") if isinstance(p, str) and p in perm.CATALOGUE}
    group = await _find(request, session, group_id) if group_id else None
    if group_id and group is None:
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    if not name:
        return await _editor(
            request, session, group=group, chosen=chosen, error=t("staff.groups.name_required"), status_code=400
        )
    identity, token = _backends(request).identity, session.principal_token
    try:
        if group is None:
            await identity.create_permission_group(token, name=name, permissions=sorted(chosen))
        else:
            await identity.update_permission_group(token, group_id=group.id, name=name, permissions=sorted(chosen))
    except grpc.aio.AioRpcError as err:
        if _refused(err):
            return pages.error(request, FORBIDDEN, session=session)
        if err.code() not in _FORM_ERRORS:
            raise
        message = split_field(err.details() or "")[1]
        return await _editor(request, session, group=group, name=name, chosen=chosen, error=message, status_code=409)
    return RedirectResponse(f"/staff/groups?done={'created' if group is None else 'saved'}", status_code=303)


@router.post("/groups/new")
async def create_group(request: Request, session: StaffPage) -> Response:
    return await _save(request, session, None)


@router.post("/groups/{group_id}")
async def update_group(request: Request, group_id: str, session: StaffPage) -> Response:
    return await _save(request, session, group_id)


@router.get("/groups/{group_id}/delete")
async def delete_confirm(request: Request, group_id: str, session: StaffPage) -> Response:
    pages = _pages(request)
    group = await _find(request, session, group_id)
    if group is None:
        return pages.error(request, NOT_FOUND, session=session)
    return pages.render(request, "staff/group_delete.html", {"group": group, "error": ""}, session=session)


@router.post("/groups/{group_id}/delete")
async def delete_group(request: Request, group_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    pages = _pages(request)
    group = await _find(request, session, group_id)
    if group is None:
        return pages.error(request, NOT_FOUND, session=session)
    try:
        await _backends(request).identity.delete_permission_group(session.principal_token, group.id)
    except grpc.aio.AioRpcError as err:
        if _refused(err):
            return pages.error(request, FORBIDDEN, session=session)
        if err.code() not in _FORM_ERRORS:
            raise
        context = {"group": group, "error": split_field(err.details() or "")[1]}
        return pages.render(request, "staff/group_delete.html", context, session=session, status_code=409)
    return RedirectResponse("/staff/groups?done=deleted", status_code=303)


# --- the audit log ------------------------------------------------------------------------------------------------

AUDIT_PAGE = 50


def _day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@router.get("/audit")
async def audit_log(request: Request, session: StaffPage) -> Response:
    """Identity's audit log with filters: one kind, a piece of the subject (a login), a range of days (UTC)."""
    pages = _pages(request)
    t = pages.translator(request)
    params = request.query_params
    f = {
        "kind": params.get("kind", "")[:40],
        "subject": " ".join(params.get("subject", "").split())[:300],
        "from": params.get("from", "")[:10],
        "to": params.get("to", "")[:10],
    }
    since, until_day = _day(f["from"]), _day(f["to"])
    cursor = params.get("cursor", "")[:512]
    identity = _backends(request).identity
    try:
        page, kinds = await identity.audit_log(
            session.principal_token,
            page_size=AUDIT_PAGE,
            cursor=cursor,
            kind=f["kind"],
            subject=f["subject"],
            since=since,
            until=until_day + timedelta(days=1) if until_day else None,
        )
    except grpc.aio.AioRpcError as err:
        if _refused(err):
            return pages.error(request, FORBIDDEN, session=session)
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        # A kind or cursor from an old link: the whole log again rather than an error.
        f["kind"], cursor = "", ""
        page, kinds = await identity.audit_log(session.principal_token, page_size=AUDIT_PAGE)
    query = {k: v for k, v in f.items() if v}
    rows = [
        {
            "at": t.datetime(e.at),
            "kind": t.table.get(f"staff.audit.kind.{e.kind}") or e.kind.replace("_", " "),
            "subject": e.subject,
            "address": e.address,
            "detail": ", ".join(f"{k}: {v}" for k, v in sorted(e.detail.items())),
        }
        for e in page.items
    ]
    return pages.render(
        request,
        "staff/audit.html",
        {
            "rows": rows,
            "f": f,
            "kinds": [(k, t.table.get(f"staff.audit.kind.{k}") or k.replace("_", " ")) for k in kinds],
            "more": f"/staff/audit?{urlencode({**query, 'cursor': page.next_cursor})}" if page.next_cursor else "",
            "first": f"/staff/audit?{urlencode(query)}" if cursor else "",
        },
        session=session,
    )
