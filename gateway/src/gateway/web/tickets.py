"""Ticket pages (T1–T6, T11): view all with search, filters, sort and Mine/All; the new-ticket form; the ticket
charts; the ticket page with its public comments, comment/edit/close forms; CSV export of the visible tickets;
the ticket PDF.

/tickets/new and /tickets/charts are declared before /tickets/{ticket_id} in this one file: routes match in
order, and neither is a ticket id. The charts are inline SVG with text labels, a legend and a table of the
same figures, for users who may see tickets (View All or View Mine; the figures cover exactly those tickets).

Everything works without JavaScript; the tickets service decides what the user may see and do, these pages
only decide what to offer.
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import NamedTuple
from urllib.parse import urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from gateway.areas import assets as assets_rules
from gateway.areas import navigation, ticket_statuses
from gateway.areas import tickets as tickets_rules
from gateway.areas.tickets import (
    COMMENT_MAX,
    DEFAULT_PRIORITY,
    DESCRIPTION_MAX,
    PRIORITIES,
    SORTS,
    SUBJECT_MAX,
    Filters,
    status_key,
)
from gateway.clients import Backends
from gateway.clients.schemas import Asset, Attachment, Comment, Site, Ticket
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.downloads import DOWNLOAD_CSP, attachment_response, pdf_response
from gateway.edge.errors import FORBIDDEN, NOT_FOUND, UNAVAILABLE, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.portal_controls import request_controls
from gateway.edge.sessions import Session
from gateway.web import charts_svg
from gateway.web.deps import PortalPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from gateway.web.section_cache import shared_page
from gateway.web.views.tickets import invoiced_label, list_row, status_label
from servicekit import i18n
from servicekit import permissions as perm

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
_TICKET_FIELDS = ("subject", "description", "priority", "issue_type", "contact_id", "asset_id", "site_id")
ASSET_CHOICES_MAX = 100
COMMENTS_PAGE = 50
CSV_LIMIT = 10_000
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What a redirect after a successful post says on the ticket page.
_DONE = {
    "commented": "tickets.done.commented",
    "updated": "tickets.done.updated",
    "closed": "tickets.done.closed",
    "attached": "tickets.done.attached",
}


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def read_filters(request: Request, session: Session) -> Filters:
    """The list's filters from the query string, keeping only what the user's group offers."""
    qp = request.query_params
    controls = request_controls(request)
    # SPEC H3: with no scope in the address, a View-All user first sees staff's default scope.
    default = controls.home_layout.default_scope if controls is not None else "all"
    f = tickets_rules.lenient(
        session.principal,
        query=qp.get("q", ""),
        status_in=qp.getlist("status"),
        status_not_in=qp.getlist("not_status"),
        sort=qp.get("sort", "newest"),
        scope=qp.get("scope", default),
        site_id=qp.get("site_id", ""),
        asset_id=qp.get("asset_id", ""),
    )
    return f._replace(default_scope=default if default in ("all", "mine") else "all")


async def _list(request: Request, session: Session, f: Filters, *, cursor: str = "", size: int = PAGE_SIZE):
    return await _backends(request).tickets.list_tickets(
        session.principal_token,
        page_size=size,
        cursor=cursor,
        **f.list_arguments(),
    )


@router.get("/tickets")
async def tickets_list(request: Request, session: PortalPage) -> Response:
    p = session.principal
    if not navigation.may_open(p, "tickets"):
        return _pages(request).error(request, NOT_FOUND, session=session)
    f = read_filters(request, session)
    cursor = request.query_params.get("cursor", "")[:512]
    pages = _pages(request)
    t = pages.translator(request)

    async def build() -> dict:
        nonlocal cursor
        await ticket_statuses.refresh(_backends(request).tickets, session.principal_token)
        try:
            page = await _list(request, session, f, cursor=cursor)
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            # A stale or edited cursor: start again from the first page rather than fail.
            page = await _list(request, session, f)
            cursor = ""
        base = f.params()
        # The list filters by asset and site; it has no contact filter (the contact picker is the new-ticket form's).
        assets, sites = await asyncio.gather(_asset_choices(request, session), _site_choices(request, session))
        return {
            "rows": [list_row(t, tk) for tk in page.items],
            "asset_choices": assets,
            "site_choices": sites,
            "f": f,
            "statuses": [(s, status_label(t, s)) for s in ticket_statuses.current().names],
            "sorts": SORTS,
            "show_status_filters": p.has(perm.TICKETS_STATUS_FILTERS),
            "show_scope": p.has(perm.TICKETS_VIEW_ALL),
            "can_create": p.has(perm.TICKETS_CREATE),
            "filtered": bool(base),
            "next_href": "/tickets?" + urlencode([*base, ("cursor", page.next_cursor)]) if page.next_cursor else "",
            "first_href": ("/tickets?" + urlencode(base)) if cursor else "",
            "csv_href": "/tickets.csv" + ("?" + urlencode(base) if base else ""),
        }

    # Everyone who sees the same list (read cache's viewer, language, filters, cursor) gets it built once; "Mine" is
    # each user's own, also for a View All user.
    me = (p.contact_id, p.subject_id) if f.scope == "mine" else ()
    return await shared_page(request, pages, session, "tickets/list.html", (f, cursor, me), build)


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


@router.get("/tickets.csv")
async def tickets_csv(request: Request, session: PortalPage) -> Response:
    p = session.principal
    if not navigation.may_open(p, "tickets"):
        return _pages(request).error(request, NOT_FOUND, session=session)
    await ticket_statuses.refresh(_backends(request).tickets, session.principal_token)
    f = read_filters(request, session)
    t = _pages(request).translator(request)
    # Fetched before the response starts, so a backend failure is an error page and not a truncated file.
    tickets: list[Ticket] = []
    cursor = ""
    while len(tickets) < CSV_LIMIT:
        page = await _list(request, session, f, cursor=cursor, size=100)
        tickets += page.items
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    out = io.StringIO()
    # SPEC H5: French spreadsheets split on `;` (their decimal separator is the comma); headers in the page's language.
    w = csv.writer(out, delimiter=i18n.csv_delimiter(t.lang))
    w.writerow(
        [t(k) for k in ("ticket.number", "ticket.subject", "ticket.contact", "ticket.status", "ticket.priority")]
        + [t("ticket.issue_type"), t("ticket.created"), t("ticket.updated")]
    )
    for tk in tickets[:CSV_LIMIT]:
        w.writerow(
            [
                tk.number,
                _csv_cell(tk.subject),
                _csv_cell(tk.contact_name),
                _csv_cell(status_label(t, tk.status)),
                _csv_cell(t.label("priority", tk.priority)),
                _csv_cell(tk.issue_type),
                # In the operator's time zone, with its offset (PORTAL_TIMEZONE).
                i18n.local(tk.created_at).isoformat(timespec="seconds") if tk.created_at else "",
                i18n.local(tk.updated_at).isoformat(timespec="seconds") if tk.updated_at else "",
            ]
        )
    body = "\ufeff" + out.getvalue()  # the BOM makes spreadsheet programs read UTF-8 (accents) correctly
    return StreamingResponse(
        iter([body.encode("utf-8")]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tickets.csv"', "Cache-Control": "no-store"},
    )


# --- new ticket (before /tickets/{ticket_id}) ----------------------------------------------------------


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


async def _contact_choices(request: Request, session: Session) -> list[tuple[str, str]]:
    """The contact picker's choices (View All users only); none while identity cannot answer."""
    try:
        return await tickets_rules.contact_choices(
            _backends(request).identity, session.principal_token, session.principal
        )
    except grpc.aio.AioRpcError:
        return []


async def _site_choices(request: Request, session: Session) -> list[Site]:
    """The customer's sites the user may pick or filter by (T8); none without an asset view or while assets is
    unavailable."""
    if not assets_rules.may_view(session.principal):
        return []
    try:
        page = await _backends(request).assets.list_sites(session.principal_token, page_size=ASSET_CHOICES_MAX)
    except grpc.aio.AioRpcError:
        return []
    return page.items


async def _ticket_form(
    request: Request, session: Session, form: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    assets, sites, contacts = await asyncio.gather(
        _asset_choices(request, session), _site_choices(request, session), _contact_choices(request, session)
    )
    return _pages(request).render(
        request,
        "tickets/new.html",
        {
            "form": form,
            "errors": errors,
            "priorities": PRIORITIES,
            "issue_types": tickets_rules.ISSUE_TYPES,
            "limits": {"subject": SUBJECT_MAX, "description": DESCRIPTION_MAX},
            "assets": assets,
            "sites": sites,
            "contacts": contacts,
        },
        session=session,
        status_code=status,
    )


@router.get("/tickets/new")
async def new_ticket_form(request: Request, session: PortalPage) -> Response:
    if not session.principal.has(perm.TICKETS_CREATE):
        return _pages(request).error(request, FORBIDDEN, session=session)
    # "New ticket about this asset" (the asset and site pages) opens the form with them chosen.
    qp = request.query_params
    form = {
        "subject": "",
        "description": "",
        "priority": DEFAULT_PRIORITY,
        "issue_type": tickets_rules.DEFAULT_ISSUE_TYPE,
        "contact_id": "",
        "asset_id": qp.get("asset_id", "").strip()[:64],
        "site_id": qp.get("site_id", "").strip()[:64],
        # Generated with the form, so a double submit of this form creates one ticket.
        "idempotency_key": new_key(),
    }
    return await _ticket_form(request, session, form, {}, 200)


@router.post("/tickets/new")
async def new_ticket_submit(request: Request, session: PortalPage) -> Response:
    raw = await read_form(request, max_files=1)
    check_csrf(request, raw.get(CSRF_FIELD))
    if not session.principal.has(perm.TICKETS_CREATE):
        return _pages(request).error(request, FORBIDDEN, session=session)
    t = _pages(request).translator(request)
    form = {
        "subject": field(raw, "subject").strip(),
        "description": field(raw, "description").strip(),
        "priority": field(raw, "priority").strip() or DEFAULT_PRIORITY,
        "issue_type": field(raw, "issue_type").strip() or tickets_rules.DEFAULT_ISSUE_TYPE,
        "contact_id": field(raw, "contact_id").strip()[:64],
        "asset_id": field(raw, "asset_id").strip()[:64],
        "site_id": field(raw, "site_id").strip()[:64],
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
    if form["issue_type"] not in tickets_rules.ISSUE_TYPES:
        errors["issue_type"] = t("tickets.issue_type.invalid")
        form["issue_type"] = tickets_rules.DEFAULT_ISSUE_TYPE
    contact_id = contact_name = ""
    if form["contact_id"] and not errors:
        try:
            contact_id, contact_name = await tickets_rules.chosen_contact(
                _backends(request).identity, session.principal_token, session.principal, form["contact_id"]
            )
        except tickets_rules.UnknownContact:
            errors["contact_id"] = t("tickets.contact.invalid")
            form["contact_id"] = ""
    if errors:
        return await _ticket_form(request, session, form, errors, 400)
    site_id = form["site_id"]
    if form["asset_id"] and not site_id:
        # The ticket is at the asset's site; the tickets service checks both are the customer's.
        chosen = [a for a in await _asset_choices(request, session) if a.id == form["asset_id"]]
        site_id = chosen[0].site_id if chosen else ""
    try:
        ticket = await _backends(request).tickets.create_ticket(
            session.principal_token,
            subject=form["subject"],
            description=form["description"],
            priority=form["priority"],
            issue_type=form["issue_type"],
            idempotency_key=form["idempotency_key"],
            asset_id=form["asset_id"],
            site_id=site_id,
            contact_id=contact_id,
            contact_name=contact_name,
        )
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            name, detail = split_field(err.details() or "")
            errors[name if name in _TICKET_FIELDS else "_form"] = (
                t("tickets.asset.invalid")
                if name == "asset_id"
                else t("tickets.site.invalid")
                if name == "site_id"
                else detail
            )
            return await _ticket_form(request, session, form, errors, 400)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            errors["_form"] = t("error.backend-unavailable.detail")
            return await _ticket_form(request, session, form, errors, UNAVAILABLE.status)
        raise
    upload = raw.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        refused = await attach_after_create(request, session, ticket.id, upload)
        if refused is not None:
            return refused
    return RedirectResponse(f"/tickets/{ticket.id}", status_code=303)


# --- charts (before /tickets/{ticket_id}) -----------------------------------------------------------------


def priority_label(t: Translator, value: str) -> str:
    return t.label("priority", value) if value else t("kb.charts.no_priority")


def hours_text(t: Translator, hours: float) -> str:
    text = f"{hours:.1f}"
    return text.replace(".", ",") if t.lang == "fr" else text


@router.get("/tickets/charts")
async def ticket_charts(request: Request, session: PortalPage) -> Response:
    pages = _pages(request)
    p = session.principal
    if not navigation.may_open(p, "tickets"):
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    data = await _backends(request).knowledge.ticket_charts(session.principal_token)
    pie = charts_svg.pie([(priority_label(t, c.priority), c.count) for c in data.open_by_priority])
    resolution = [
        (priority_label(t, r.priority), r.mean_hours, hours_text(t, r.mean_hours), r.count)
        for r in data.resolution_by_priority
    ]
    line = charts_svg.line(
        [(label, hours, text) for label, hours, text, _ in resolution], decimal="," if t.lang == "fr" else "."
    )
    return pages.render(
        request,
        "tickets/charts.html",
        {"pie": pie, "line": line, "resolution": resolution},
        session=session,
    )


# --- one ticket ---------------------------------------------------------------------------------------------


class CommentView(NamedTuple):
    id: str
    author: str
    is_staff: bool
    when: str
    body: str


class FileView(NamedTuple):
    href: str
    name: str
    size: str
    thumbnail: str


def _size(t: Translator, n: int) -> str:
    if n < 1024:
        return t("tickets.files.bytes", n=n)
    if n < 1024 * 1024:
        return t("tickets.files.kb", n=round(n / 1024))
    return t("tickets.files.mb", n=f"{n / (1024 * 1024):.1f}")


def _file_view(t: Translator, a: Attachment) -> FileView:
    return FileView(
        f"/ticket-files/{a.id}",
        a.filename,
        _size(t, a.size_bytes),
        f"/ticket-files/{a.id}/thumbnail" if a.has_thumbnail else "",
    )


def _comment_view(t: Translator, c: Comment) -> CommentView:
    staff = c.author_kind == "staff"
    author = c.author_name or t("tickets.comment.staff" if staff else "tickets.comment.customer")
    return CommentView(c.id, author, staff, t.datetime(c.created_at), c.body)


async def _ticket_page(
    request: Request,
    session: Session,
    ticket_id: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    backends = _backends(request)
    token = session.principal_token
    pages = _pages(request)
    t = pages.translator(request)
    await ticket_statuses.refresh(backends.tickets, token)
    try:
        ticket = await backends.tickets.get_ticket(token, ticket_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    cursor = request.query_params.get("comments", "")[:512] if request.method == "GET" else ""
    try:
        comments, files = await asyncio.gather(
            backends.tickets.list_comments(token, ticket.id, page_size=COMMENTS_PAGE, cursor=cursor),
            backends.tickets.list_attachments(token, ticket.id),
        )
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        comments = await backends.tickets.list_comments(token, ticket.id, page_size=COMMENTS_PAGE)
        files = await backends.tickets.list_attachments(token, ticket.id)
    by_comment: dict[str, list[FileView]] = {}
    for a in files:
        by_comment.setdefault(a.comment_id, []).append(_file_view(t, a))
    done = _DONE.get(request.query_params.get("done", ""))
    return pages.render(
        request,
        "tickets/ticket.html",
        {
            "ticket": ticket,
            "status_label": status_label(t, ticket.status),
            "status_class": "status-" + status_key(ticket.status),
            "invoiced": invoiced_label(t, ticket),
            "comments": [_comment_view(t, c) for c in comments.items],
            "files": by_comment,
            "older_href": f"/tickets/{ticket.id}?comments={comments.next_cursor}" if comments.next_cursor else "",
            "errors": errors or {},
            "form": form or {"body": "", "subject": ticket.subject, "description": ticket.description},
            "done": t(done) if done else "",
            "limits": {"body": COMMENT_MAX, "subject": SUBJECT_MAX, "description": DESCRIPTION_MAX},
        },
        session=session,
        status_code=status_code,
    )


@router.get("/tickets/{ticket_id}")
async def ticket_page(request: Request, ticket_id: str, session: PortalPage) -> Response:
    return await _ticket_page(request, session, ticket_id)


async def _after_write(
    request: Request, session: Session, ticket_id: str, err: grpc.aio.AioRpcError, form: dict[str, str], field: str
) -> Response:
    """A refused write: the ticket page again, with the service's reason next to the field."""
    code = err.code()
    if code in (grpc.StatusCode.NOT_FOUND,):
        return _pages(request).error(request, NOT_FOUND, session=session)
    t = _pages(request).translator(request)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        errors = {field: t("tickets.closed.no_comments")}
        return await _ticket_page(request, session, ticket_id, errors=errors, form=form, status_code=409)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        name, detail = split_field(err.details() or "")
        return await _ticket_page(
            request, session, ticket_id, errors={name if name in form else field: detail}, form=form, status_code=400
        )
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return await _ticket_page(
            request,
            session,
            ticket_id,
            errors={field: t("error.backend-unavailable.detail")},
            form=form,
            status_code=UNAVAILABLE.status,
        )
    raise err


async def _read_upload_form(request: Request):  # noqa: ANN202 - starlette FormData
    limit = request.app.state.settings.max_body_bytes
    return await request.form(max_files=1, max_fields=10, max_part_size=limit)


@router.post("/tickets/{ticket_id}/comments")
async def add_comment(request: Request, ticket_id: str, session: PortalPage) -> Response:
    """A comment, a file, or both (the file then belongs to the comment)."""
    raw = await _read_upload_form(request)
    check_csrf(request, raw.get(CSRF_FIELD))
    t = _pages(request).translator(request)
    body = field(raw, "body").strip()
    upload = raw.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        upload = None
    filename = upload.filename if upload else ""
    form = {"body": body, "subject": "", "description": ""}
    error = ""
    if not body and not filename:
        error = t("tickets.comment.required")
    elif len(body) > COMMENT_MAX:
        error = t("tickets.comment.too_long", max=COMMENT_MAX)
    elif upload and not upload.size:
        error = t("tickets.files.empty")
    if error:
        return await _ticket_page(request, session, ticket_id, errors={"body": error}, form=form, status_code=400)
    tickets = _backends(request).tickets
    token = session.principal_token
    comment_id = ""
    if filename:
        # The file is checked (type, size, ticket open) before the comment exists, so a refused file never
        # leaves a comment that talks about it.
        try:
            await tickets.get_ticket(token, ticket_id)
        except grpc.aio.AioRpcError as err:
            return await _after_write(request, session, ticket_id, err, form, "body")
    try:
        if body:
            comment = await tickets.add_comment(token, ticket_id, body=body, author_name=session.principal.display_name)
            comment_id = comment.id
        if upload:
            await tickets.add_attachment(token, ticket_id, upload=upload, comment_id=comment_id)
    except grpc.aio.AioRpcError as err:
        which = "file" if filename and err.code() == grpc.StatusCode.INVALID_ARGUMENT else "body"
        if which == "file":
            name, detail = split_field(err.details() or "")
            message = t("tickets.files.refused", name=filename[:120], reason=detail)
            if comment_id:
                message = t("tickets.files.refused_after_comment", reason=message)
            return await _ticket_page(request, session, ticket_id, errors={"file": message}, form=form, status_code=400)
        return await _after_write(request, session, ticket_id, err, form, which)
    done = "commented" if body else "attached"
    return RedirectResponse(f"/tickets/{ticket_id}?done={done}#comments", status_code=303)


async def attach_after_create(
    request: Request, session: Session, ticket_id: str, upload: UploadFile
) -> Response | None:
    """The file chosen on the new-ticket form; None when attached, else the new ticket's page saying why not."""
    t = _pages(request).translator(request)
    filename = upload.filename or ""
    try:
        if not upload.size:
            raise ValueError(t("tickets.files.empty"))
        await _backends(request).tickets.add_attachment(session.principal_token, ticket_id, upload=upload)
    except (grpc.aio.AioRpcError, ValueError) as err:
        if isinstance(err, grpc.aio.AioRpcError) and err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        reason = split_field(err.details() or "")[1] if isinstance(err, grpc.aio.AioRpcError) else str(err)
        message = t(
            "tickets.files.refused_after_create", reason=t("tickets.files.refused", name=filename[:120], reason=reason)
        )
        return await _ticket_page(request, session, ticket_id, errors={"file": message}, status_code=400)
    return None


@router.get("/ticket-files/{attachment_id}")
async def download_attachment(request: Request, attachment_id: str, session: PortalPage) -> Response:
    try:
        att, chunks = await _backends(request).tickets.open_attachment(session.principal_token, attachment_id)
    except (grpc.aio.AioRpcError, LookupError) as err:
        if isinstance(err, LookupError) or err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return _pages(request).error(request, NOT_FOUND, session=session)
        raise
    return attachment_response(att, chunks)


@router.get("/ticket-files/{attachment_id}/thumbnail")
async def attachment_thumbnail(request: Request, attachment_id: str, session: PortalPage) -> Response:
    """An image attachment's preview: a PNG the tickets service drew, shown inline in the page."""
    try:
        data = await _backends(request).tickets.get_thumbnail(session.principal_token, attachment_id)
    except (grpc.aio.AioRpcError, LookupError) as err:
        if isinstance(err, LookupError) or err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return _pages(request).error(request, NOT_FOUND, session=session)
        raise
    return Response(
        data,
        media_type="image/png",
        headers={"Content-Security-Policy": DOWNLOAD_CSP, "Cache-Control": "private, max-age=300"},
    )


@router.post("/tickets/{ticket_id}/edit")
async def edit_ticket(request: Request, ticket_id: str, session: PortalPage) -> Response:
    raw = await read_form(request)
    check_csrf(request, raw.get(CSRF_FIELD))
    t = _pages(request).translator(request)
    form = {"body": "", "subject": field(raw, "subject").strip(), "description": field(raw, "description").strip()}
    errors: dict[str, str] = {}
    if not form["subject"]:
        errors["subject"] = t("tickets.subject.required")
    elif len(form["subject"]) > SUBJECT_MAX:
        errors["subject"] = t("tickets.subject.too_long", max=SUBJECT_MAX)
    if not form["description"]:
        errors["description"] = t("tickets.description.required")
    elif len(form["description"]) > DESCRIPTION_MAX:
        errors["description"] = t("tickets.description.too_long", max=DESCRIPTION_MAX)
    if errors:
        return await _ticket_page(request, session, ticket_id, errors=errors, form=form, status_code=400)
    try:
        await _backends(request).tickets.update_ticket(
            session.principal_token, ticket_id, subject=form["subject"], description=form["description"]
        )
    except grpc.aio.AioRpcError as err:
        return await _after_write(request, session, ticket_id, err, form, "subject")
    return RedirectResponse(f"/tickets/{ticket_id}?done=updated", status_code=303)


@router.post("/tickets/{ticket_id}/close")
async def close_ticket(request: Request, ticket_id: str, session: PortalPage) -> Response:
    raw = await read_form(request)
    check_csrf(request, raw.get(CSRF_FIELD))
    try:
        await _backends(request).tickets.close_ticket(session.principal_token, ticket_id)
    except grpc.aio.AioRpcError as err:
        return await _after_write(request, session, ticket_id, err, {"body": ""}, "close")
    return RedirectResponse(f"/tickets/{ticket_id}?done=closed", status_code=303)


@router.get("/tickets/{ticket_id}/pdf")
async def ticket_pdf(request: Request, ticket_id: str, session: PortalPage) -> Response:
    try:
        data, filename = await _backends(request).tickets.ticket_pdf(
            session.principal_token, ticket_id, language=_pages(request).translator(request).lang
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return _pages(request).error(request, NOT_FOUND, session=session)
        raise
    return pdf_response(data, filename)
