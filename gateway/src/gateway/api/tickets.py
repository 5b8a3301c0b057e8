"""Tickets in the JSON API (/api/v1/tickets…): list with search and filters, open, charts (declared before
/tickets/{ticket_id}: not a ticket id), read, edit, close, comment, PDF. Private staff notes never appear: the
tickets service sends portal users public comments only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, CurrentSession, TicketIdempotencyKey, UploadIdempotencyKey
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.schemas import NewTicket, TicketPage
from gateway.areas import tickets as tickets_rules
from gateway.areas.tickets import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    QUERY_MAX,
    SUBJECT_MAX,
    Filters,
    UnknownContact,
    chosen_contact,
)
from gateway.clients.knowledge import TicketCharts
from gateway.clients.schemas import Attachment, Comment, Ticket
from gateway.edge.downloads import attachment_response, pdf_response
from servicekit import permissions as perm

router = APIRouter(prefix="/api/v1", tags=["tickets"], responses=problems(400, 401, 413, 503))

TicketId = Annotated[str, Path(min_length=1, max_length=200)]


class TicketEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(strip_whitespace=True, max_length=SUBJECT_MAX)] = ""
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=DESCRIPTION_MAX)] = ""


class NewComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX)]


class CommentPage(BaseModel):
    items: list[Comment]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for older comments; null on the last page")


@router.get("/tickets", responses=problems(403))
async def list_tickets(
    session: CurrentSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
    open_only: bool = False,
    q: Annotated[str, Query(max_length=QUERY_MAX, description="Words in the subject, description or a comment")] = "",
    status_is: Annotated[list[str], Query(alias="status", max_length=10)] = [],  # noqa: B006 - FastAPI query list
    status_is_not: Annotated[list[str], Query(alias="not_status", max_length=10)] = [],  # noqa: B006
    sort: Literal["newest", "oldest", "updated"] = "newest",
    scope: Literal["all", "mine"] = "all",
    site_id: Annotated[str, Query(max_length=64, description="Only tickets at this customer site (T8)")] = "",
    asset_id: Annotated[str, Query(max_length=64, description="Only tickets about this asset (T8)")] = "",
) -> TicketPage:
    """Tickets the user may see, one page at a time. Status filters need Tickets - Show Status Filters."""
    # Passed through as sent (the service refuses an unknown status by name), within what the group offers.
    f = tickets_rules.allowed(
        session.principal, Filters(q, tuple(status_is), tuple(status_is_not), sort, scope, site_id, asset_id)
    )
    page = await backends.tickets.list_tickets(
        session.principal_token, page_size=page_size, cursor=cursor, open_only=open_only, **f.list_arguments()
    )
    return TicketPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/tickets", status_code=status.HTTP_201_CREATED, responses=problems(400, 403, 409))
async def create_ticket(
    body: NewTicket,
    session: CurrentSession,
    backends: Clients,
    response: Response,
    idempotency_key: TicketIdempotencyKey = None,
) -> Ticket:
    """Open a ticket for the user's customer. A site or asset must be the customer's own (400 otherwise, with the
    field named in `errors`); while they cannot be checked the answer is 503 and nothing is created."""
    p = session.principal
    if body.contact_id and body.contact_id != p.contact_id and not p.has(perm.TICKETS_VIEW_ALL):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only users who see all the customer's tickets can open one for another contact"
        )
    try:
        contact_id, contact_name = await chosen_contact(backends.identity, session.principal_token, p, body.contact_id)
    except UnknownContact:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "contact_id: not one of your customer's contacts") from None
    ticket = await backends.tickets.create_ticket(
        session.principal_token,
        subject=body.subject,
        description=body.description,
        priority=body.priority,
        issue_type=body.issue_type,
        idempotency_key=idempotency_key or "",
        site_id=body.site_id,
        asset_id=body.asset_id,
        contact_id=contact_id,
        contact_name=contact_name,
    )
    response.headers["Location"] = f"/api/v1/tickets/{ticket.id}"
    return ticket


@router.get("/tickets/charts", responses=problems(403))
async def ticket_charts(session: CurrentSession, backends: Clients) -> TicketCharts:
    """Open tickets by priority and the mean hours resolved tickets took, over the tickets the user may see."""
    return await backends.knowledge.ticket_charts(session.principal_token)


@router.get("/tickets/{ticket_id}", responses=problems(404))
async def get_ticket(session: CurrentSession, backends: Clients, ticket_id: TicketId) -> Ticket:
    """One ticket; another customer's ticket is 404."""
    return await backends.tickets.get_ticket(session.principal_token, ticket_id)


@router.patch("/tickets/{ticket_id}", responses=problems(404, 409))
async def edit_ticket(body: TicketEdit, session: CurrentSession, backends: Clients, ticket_id: TicketId) -> Ticket:
    """Change the subject and/or the description of an open ticket (empty fields stay as they are)."""
    return await backends.tickets.update_ticket(
        session.principal_token, ticket_id, subject=body.subject, description=body.description
    )


@router.post("/tickets/{ticket_id}/close", responses=problems(404))
async def close_ticket(session: CurrentSession, backends: Clients, ticket_id: TicketId) -> Ticket:
    """Mark the ticket closed; it then takes no new comments. Closing a closed ticket changes nothing."""
    return await backends.tickets.close_ticket(session.principal_token, ticket_id)


@router.get("/tickets/{ticket_id}/comments", responses=problems(404))
async def list_comments(
    session: CurrentSession,
    backends: Clients,
    ticket_id: TicketId,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> CommentPage:
    """The ticket's public comments, newest first."""
    page = await backends.tickets.list_comments(session.principal_token, ticket_id, page_size=page_size, cursor=cursor)
    return CommentPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/tickets/{ticket_id}/comments", status_code=status.HTTP_201_CREATED, responses=problems(404, 409))
async def add_comment(body: NewComment, session: CurrentSession, backends: Clients, ticket_id: TicketId) -> Comment:
    """Add a public comment; a closed ticket answers 409 (failed precondition)."""
    return await backends.tickets.add_comment(
        session.principal_token, ticket_id, body=body.body, author_name=session.principal.display_name
    )


@router.get(
    "/tickets/{ticket_id}/pdf",
    responses={**problems(404), 200: {"content": {"application/pdf": {}}, "description": "The ticket as a PDF"}},
    response_class=Response,
)
async def ticket_pdf(session: CurrentSession, backends: Clients, ticket_id: TicketId) -> Response:
    """The ticket and its public comments as a PDF download, in the language kept on the user (else English)."""
    data, filename = await backends.tickets.ticket_pdf(session.principal_token, ticket_id, language=session.language)
    return pdf_response(data, filename)


@router.get("/tickets/{ticket_id}/attachments", responses=problems(404))
async def list_attachments(session: CurrentSession, backends: Clients, ticket_id: TicketId) -> list[Attachment]:
    """The ticket's files, oldest first (download each from `/api/v1/ticket-files/{id}`)."""
    return await backends.tickets.list_attachments(session.principal_token, ticket_id)


@router.post("/tickets/{ticket_id}/attachments", status_code=status.HTTP_201_CREATED, responses=problems(404, 409, 413))
async def add_attachment(
    file: UploadFile,
    session: CurrentSession,
    backends: Clients,
    ticket_id: TicketId,
    response: Response,
    idempotency_key: UploadIdempotencyKey = None,
) -> Attachment:
    """Attach a file (multipart field `file`) to an open ticket. The type is decided by the content: images
    (PNG, JPEG, GIF, WebP), PDF and plain text are accepted; web pages, SVG and programs never are."""
    att = await backends.tickets.add_attachment(
        session.principal_token, ticket_id, upload=file, idempotency_key=idempotency_key or ""
    )
    response.headers["Location"] = f"/api/v1/ticket-files/{att.id}"
    return att


@router.get(
    "/ticket-files/{attachment_id}",
    responses={**problems(404), 200: {"content": {"application/octet-stream": {}}, "description": "The file"}},
    response_class=Response,
)
async def download_attachment(
    session: CurrentSession, backends: Clients, attachment_id: Annotated[str, Path(min_length=1, max_length=200)]
) -> Response:
    """The file, always as a download (`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP)."""
    try:
        att, chunks = await backends.tickets.open_attachment(session.principal_token, attachment_id)
    except LookupError:
        raise HTTPException(status_code=404, detail="attachment not found") from None
    return attachment_response(att, chunks)
