"""The staff console's tickets (SPEC S2, T3, issue 12): the queue with its filters and keyset pages, and a ticket's
page — the customer's internal warning, public comments and private notes, reply or note, assign to me or
unassign, any status. The tickets service refuses every write to a principal that is not staff; these pages
also answer a portal session with 403."""

from __future__ import annotations

import asyncio
from typing import NamedTuple
from urllib.parse import urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import ticket_statuses
from gateway.areas.tickets import (
    COMMENT_MAX,
    PRIORITIES,
    QUERY_MAX,
    UnknownAssignee,
    assignee_id,
    status_key,
)
from gateway.clients import Backends
from gateway.clients.schemas import TicketStatus
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, NOT_FOUND, split_field
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from gateway.web.views import status_class

router = APIRouter(prefix="/staff", include_in_schema=False)

PAGE_SIZE = 25
ASSIGNEES = ("", "me", "none")
_DONE = {"replied", "noted", "assigned", "assigned_other", "unassigned", "status"}


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def staff_status(t: Translator, value: str) -> str:
    """Staff read the status as it is ("Waiting on customer"), not as the customer reads it ("Waiting on you"); an
    operator's own label wins over both."""
    return (
        ticket_statuses.current().label(t.lang, value)
        or t.table.get(f"staff.tickets.status.{status_key(value)}")
        or value
    )


def _assignee(t: Translator, session: Session, assignee_id: str, names: dict[str, str]) -> str:
    if not assignee_id:
        return t("staff.tickets.unassigned")
    if assignee_id == session.principal.subject_id:
        return t("staff.tickets.you")
    # A deactivated member is no longer in the directory: still say someone has it.
    return names.get(assignee_id) or t("staff.tickets.former_staff")


@router.get("/tickets")
async def queue(request: Request, session: StaffPage) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    params = request.query_params
    catalogue = await ticket_statuses.refresh(_backends(request).tickets, session.principal_token)
    # Filters a person clicked: anything unknown is dropped, not refused (the API refuses it by name).
    f = {
        "q": " ".join(params.get("q", "").split())[:QUERY_MAX],
        "status": catalogue.known(params.get("status", "")) or "",
        "open": params.get("open", "1") == "1",
        "assignee": params.get("assignee", "") if params.get("assignee", "") in ASSIGNEES else "",
        "customer": params.get("customer", "")[:64],
        "priority": params.get("priority", "") if params.get("priority", "").lower() in PRIORITIES else "",
    }
    cursor = params.get("cursor", "")[:512]
    backends = _backends(request)
    token = session.principal_token
    page, customers, names = await asyncio.gather(
        backends.tickets.list_tickets(
            token,
            page_size=PAGE_SIZE,
            cursor=cursor,
            open_only=f["open"],
            query=f["q"],
            status_in=[f["status"]] if f["status"] else [],
            sort="oldest" if f["open"] else "newest",
            assignee_id=session.principal.subject_id if f["assignee"] == "me" else "",
            unassigned_only=f["assignee"] == "none",
            customer_id=f["customer"],
            priority=f["priority"],
        ),
        backends.identity.list_customers(token, page_size=100),
        backends.identity.staff_directory(token),
        return_exceptions=True,
    )
    staff_names = {} if isinstance(names, BaseException) else names
    if isinstance(page, grpc.aio.AioRpcError) and page.code() == grpc.StatusCode.INVALID_ARGUMENT:
        page = await backends.tickets.list_tickets(token, page_size=PAGE_SIZE, open_only=True, sort="oldest")
    if isinstance(page, BaseException):
        raise page
    names = {} if isinstance(customers, BaseException) else {c.id: c.display_name for c in customers.items}
    rows = [
        {
            "id": tk.id,
            "number": tk.number,
            "subject": tk.subject,
            "customer": names.get(tk.customer_id, tk.customer_id),
            "status": staff_status(t, tk.status),
            "status_class": status_class(tk.status),
            "priority": t.label("priority", tk.priority),
            "assignee": _assignee(t, session, tk.assignee_id, staff_names),
            "created": t.datetime(tk.created_at),
        }
        for tk in page.items
    ]
    kept = {"q": f["q"], "status": f["status"], "open": "1" if f["open"] else "0", "assignee": f["assignee"]}
    kept |= {"customer": f["customer"], "priority": f["priority"]}
    query = {k: v for k, v in kept.items() if v}
    more = f"/staff/tickets?{urlencode({**query, 'cursor': page.next_cursor})}" if page.next_cursor else ""
    return pages.render(
        request,
        "staff/tickets.html",
        {
            "rows": rows,
            "f": f,
            "more": more,
            "first": f"/staff/tickets?{urlencode(query)}" if cursor else "",
            "statuses": [(s, staff_status(t, s)) for s in ticket_statuses.current().names],
            "priorities": [(p.capitalize(), t.label("priority", p)) for p in PRIORITIES],
            "customers": sorted(names.items(), key=lambda kv: kv[1].lower()),
        },
        session=session,
    )


@router.get("/tickets/{ticket_id}")
async def ticket_page(request: Request, ticket_id: str, session: StaffPage) -> Response:
    return await _ticket_page(request, session, ticket_id)


async def _ticket_page(
    request: Request, session: Session, ticket_id: str, *, error: str = "", body: str = "", status_code: int = 200
) -> Response:
    pages = _pages(request)
    t = pages.translator(request)
    backends = _backends(request)
    token = session.principal_token
    await ticket_statuses.refresh(backends.tickets, token)
    try:
        ticket = await backends.tickets.get_ticket(token, ticket_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    comments, customer, directory = await asyncio.gather(
        backends.tickets.staff_comments(token, ticket_id, page_size=100),
        backends.identity.customer_name_and_warning(token, ticket.customer_id),
        backends.identity.staff_directory(token),
        return_exceptions=True,
    )
    staff_names = {} if isinstance(directory, BaseException) else directory
    if isinstance(comments, BaseException):
        raise comments
    # Identity down: the ticket is still worked, under the customer's id and without its warning.
    name, warning = (ticket.customer_id, "") if isinstance(customer, BaseException) else customer
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "staff/ticket.html",
        {
            "ticket": ticket,
            "customer": name,
            "warning": warning,
            "status": staff_status(t, ticket.status),
            "status_class": status_class(ticket.status),
            "assignee": _assignee(t, session, ticket.assignee_id, staff_names),
            "mine": ticket.assignee_id == session.principal.subject_id,
            "staff": list(staff_names.items()),
            "comments": [
                {
                    "id": c.id,
                    "author": c.author_name or t("staff.tickets.someone"),
                    "staff": c.author_kind == "staff",
                    "private": not c.is_public,
                    "when": t.datetime(c.created_at),
                    "body": c.body,
                }
                for c in comments.items
            ],
            "statuses": [(s, staff_status(t, s)) for s in ticket_statuses.current().names],
            "done": t(f"staff.tickets.done.{done}") if done in _DONE else "",
            "error": error,
            "body": body,
            "limit": COMMENT_MAX,
        },
        session=session,
        status_code=status_code,
    )


async def _write(request: Request, session: Session, ticket_id: str, body: str, action) -> Response | None:  # noqa: ANN001
    """Run a staff write; a refusal the staff member can act on is the ticket page again with the reason."""
    t = _pages(request).translator(request)
    try:
        await action
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code == grpc.StatusCode.NOT_FOUND:
            return _pages(request).error(request, NOT_FOUND, session=session)
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            message = t("staff.tickets.closed_no_comments")
        elif code == grpc.StatusCode.INVALID_ARGUMENT:
            message = split_field(err.details() or "")[1]
        else:
            raise
        return await _ticket_page(request, session, ticket_id, error=message, body=body, status_code=400)
    return None


async def _staff_form(request: Request):  # noqa: ANN202 - starlette FormData
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return form


@router.post("/tickets/{ticket_id}/comments")
async def comment(request: Request, ticket_id: str, session: StaffPage) -> Response:
    form = await _staff_form(request)
    t = _pages(request).translator(request)
    body = field(form, "body").strip()
    private = field(form, "kind") == "note"
    if not body:
        return await _ticket_page(request, session, ticket_id, error=t("staff.tickets.body_required"), status_code=400)
    if len(body) > COMMENT_MAX:
        message = t("staff.tickets.body_too_long", max=COMMENT_MAX)
        return await _ticket_page(request, session, ticket_id, error=message, body=body, status_code=400)
    tickets = _backends(request).tickets
    action = tickets.add_staff_comment(
        session.principal_token, ticket_id, body=body, private=private, author_name=session.principal.display_name
    )
    answer = await _write(request, session, ticket_id, body, action)
    done = "noted" if private else "replied"
    return answer or RedirectResponse(f"/staff/tickets/{ticket_id}?done={done}#comments", status_code=303)


@router.post("/tickets/{ticket_id}/assignee")
async def assign(request: Request, ticket_id: str, session: StaffPage) -> Response:
    form = await _staff_form(request)
    try:
        who = await assignee_id(
            _backends(request).identity, session.principal_token, session.principal, field(form, "assignee")[:64]
        )
    except UnknownAssignee:
        t = _pages(request).translator(request)
        return await _ticket_page(
            request, session, ticket_id, error=t("staff.tickets.assignee_unknown"), status_code=400
        )
    action = _backends(request).tickets.assign(session.principal_token, ticket_id, who)
    answer = await _write(request, session, ticket_id, "", action)
    done = ("assigned" if who == session.principal.subject_id else "assigned_other") if who else "unassigned"
    return answer or RedirectResponse(f"/staff/tickets/{ticket_id}?done={done}", status_code=303)


@router.post("/tickets/{ticket_id}/status")
async def set_status(request: Request, ticket_id: str, session: StaffPage) -> Response:
    form = await _staff_form(request)
    catalogue = await ticket_statuses.refresh(_backends(request).tickets, session.principal_token)
    status = catalogue.known(field(form, "status")[:40]) or ""
    if not status:
        t = _pages(request).translator(request)
        return await _ticket_page(request, session, ticket_id, error=t("staff.tickets.status_unknown"), status_code=400)
    action = _backends(request).tickets.set_status(session.principal_token, ticket_id, status)
    answer = await _write(request, session, ticket_id, "", action)
    return answer or RedirectResponse(f"/staff/tickets/{ticket_id}?done=status", status_code=303)


# --- the ticket settings (admin) ----------------------------------------------------------------------------------

NEW_STATUS_ROWS = 2


class StatusRow(NamedTuple):
    name: str
    label_en: str
    label_fr: str
    closed: bool
    new: bool = False
    # The product's own wording of a built-in status, shown as the placeholder of an empty label.
    default_en: str = ""
    default_fr: str = ""


def _built_in_label(translators: dict[str, Translator], name: str, lang: str) -> str:
    """What the console calls a built-in status in `lang` when the operator gives it no label of its own."""
    if name not in ticket_statuses.BUILT_IN_NAMES:
        return ""
    return translators[lang].table.get(f"staff.tickets.status.{status_key(name)}", name)


@router.get("/settings")
async def settings_page(request: Request, session: StaffPage) -> Response:
    return await _settings_page(request, session)


async def _settings_page(
    request: Request,
    session: Session,
    *,
    error: str = "",
    status_error: str = "",
    status_rows: list[StatusRow] | None = None,
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    backends, token = _backends(request), session.principal_token
    current, directory, in_force = await asyncio.gather(
        backends.tickets.default_assignee(token),
        backends.identity.staff_directory(token),
        backends.tickets.ticket_statuses(token),
    )
    t = pages.translator(request)
    done = {"saved": "staff.settings.saved", "statuses": "staff.settings.statuses_saved"}.get(
        request.query_params.get("done", "")
    )
    if status_rows is None:
        status_rows = [StatusRow(st.name, st.label_en, st.label_fr, st.closed) for st in in_force]
    blanks = [StatusRow("", "", "", False, new=True) for _ in range(NEW_STATUS_ROWS)]
    return pages.render(
        request,
        "staff/settings.html",
        {
            "current": current,
            "staff": list(directory.items()),
            "former": bool(current) and current not in directory,
            "admin": session.principal.is_admin,
            "done": t(done) if done else "",
            "error": error,
            "status_error": status_error,
            "status_rows": [
                row._replace(
                    default_en=_built_in_label(pages.translators, row.name, "en"),
                    default_fr=_built_in_label(pages.translators, row.name, "fr"),
                )
                for row in [*status_rows, *blanks]
            ],
            "fixed": ticket_statuses.FIXED,
        },
        session=session,
        status_code=status_code,
    )


@router.post("/settings")
async def save_settings(request: Request, session: StaffPage) -> Response:
    form = await _staff_form(request)
    t = _pages(request).translator(request)
    backends, token = _backends(request), session.principal_token
    try:
        who = await assignee_id(backends.identity, token, session.principal, field(form, "default_assignee")[:64])
        await backends.tickets.set_default_assignee(token, who)
    except UnknownAssignee:
        return await _settings_page(request, session, error=t("staff.tickets.assignee_unknown"), status_code=400)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return _pages(request).error(request, FORBIDDEN, session=session)
        raise
    return RedirectResponse("/staff/settings?done=saved", status_code=303)


def _status_rows(form) -> list[tuple[int, StatusRow]]:  # noqa: ANN001 - starlette FormData
    """The rows as typed, with their position; a row marked removed, or a new row left blank, is dropped."""
    rows: list[tuple[int, StatusRow]] = []
    for i in range(min(int(field(form, "rows") or 0) if field(form, "rows").isdigit() else 0, 40)):
        name = field(form, f"name_{i}")[:80]
        if field(form, f"remove_{i}") or not name.strip():
            continue
        order = field(form, f"order_{i}")
        position = int(order) if order.isdigit() and len(order) < 4 else 999
        row = StatusRow(
            name,
            field(form, f"label_en_{i}")[:120],
            field(form, f"label_fr_{i}")[:120],
            bool(field(form, f"closed_{i}")),
        )
        rows.append((position, row))
    # Python's sort is stable: equal positions keep the order they were shown in.
    return sorted(rows, key=lambda pr: pr[0])


@router.post("/settings/statuses")
async def save_statuses(request: Request, session: StaffPage) -> Response:
    form = await _staff_form(request)
    rows = [row for _, row in _status_rows(form)]
    wanted = [TicketStatus(name=r.name, label_en=r.label_en, label_fr=r.label_fr, closed=r.closed) for r in rows]
    try:
        await _backends(request).tickets.set_ticket_statuses(session.principal_token, wanted)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return _pages(request).error(request, FORBIDDEN, session=session)
        if err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            _, detail = split_field(err.details() or "")
            return await _settings_page(request, session, status_error=detail, status_rows=rows, status_code=400)
        raise
    ticket_statuses.forget()
    return RedirectResponse("/staff/settings?done=statuses#statuses", status_code=303)
