"""Staff JSON API for tickets (SPEC S2, T3): open a ticket for any customer, with the customer's internal ticket
warning in the answer so staff see it on every new ticket; the queue (filters by status, assignee, customer,
priority, keyset pages); one ticket with its public comments and private notes; reply or note; assign; status.

Staff sign in with `POST /api/v1/staff/sessions` and send that token as the bearer; a portal session gets 403, and
the tickets service itself requires a staff principal to name the customer."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession, TicketIdempotencyKey
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.schemas import NewTicket, TicketPage
from gateway.api.staff.checks import bad_request, check_customer
from gateway.areas import ticket_statuses
from gateway.areas.tickets import COMMENT_MAX, QUERY_MAX, UnknownAssignee, assignee_id
from gateway.clients.schemas import StaffComment, Ticket, TicketStatus

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: tickets"],
    responses=problems(400, 401, 403, 409, 503),
)
RefId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class StaffNewTicket(NewTicket):
    model_config = ConfigDict(extra="forbid")

    customer_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    contact_id: RefId = Field(
        "", description="One of the customer's contacts (its name is kept on the ticket), or empty for the customer"
    )


class StaffTicketCreated(BaseModel):
    ticket: Ticket
    warning: str | None = Field(
        None,
        description="The customer's internal ticket warning (C3), to show to staff with the new ticket; null when "
        "the customer has none or identity could not be asked",
    )


@router.post("/tickets", status_code=status.HTTP_201_CREATED)
async def staff_create_ticket(
    body: StaffNewTicket,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: TicketIdempotencyKey = None,
) -> StaffTicketCreated:
    """Open a ticket for a customer; its contact, site and asset must be that customer's (another customer's or an
    unknown one is a 400 naming the field). The answer carries the customer's internal ticket warning."""
    token = session.principal_token
    # Asked while the ticket is created; a missing warning never costs the ticket.
    warning = asyncio.create_task(backends.identity.internal_ticket_warning(token, body.customer_id))
    try:
        # A named contact is checked with identity, which also gives the name the ticket keeps (T1). Without one,
        # identity is not needed: a ticket opens even while identity is down (the warning is then null).
        contact = None
        if body.contact_id:
            contact = await check_customer(backends, token, body.customer_id, contact_id=body.contact_id)
        ticket = await backends.tickets.create_ticket(
            token,
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            issue_type=body.issue_type,
            idempotency_key=idempotency_key or "",
            site_id=body.site_id,
            asset_id=body.asset_id,
            customer_id=body.customer_id,
            contact_id=body.contact_id,
            contact_name=contact.name if contact else "",
        )
    except BaseException:
        warning.cancel()
        await asyncio.gather(warning, return_exceptions=True)
        raise
    try:
        text = await warning
    except Exception as exc:  # identity down or the customer unknown to it: the ticket stands
        log.warning("internal ticket warning of customer %s not read: %s", body.customer_id, exc.__class__.__name__)
        text = ""
    response.headers["Location"] = f"/api/v1/tickets/{ticket.id}"
    return StaffTicketCreated(ticket=ticket, warning=text or None)


TicketId = Annotated[str, Path(min_length=1, max_length=200)]
RefQuery = Annotated[str, Query(max_length=64)]


@router.get("/tickets", responses=problems(400, 401, 403))
async def staff_queue(
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 25,
    open_only: bool = False,
    q: Annotated[str, Query(max_length=QUERY_MAX, description="Words in the subject, description or a comment")] = "",
    status_is: Annotated[list[str], Query(alias="status", max_length=10)] = [],  # noqa: B006 - FastAPI query list
    status_is_not: Annotated[list[str], Query(alias="not_status", max_length=10)] = [],  # noqa: B006
    assignee: Annotated[
        str, Query(max_length=64, description='A staff user id, "me", or "none" for unassigned tickets')
    ] = "",
    customer_id: RefQuery = "",
    priority: Annotated[str, Query(max_length=20, description="Low, Normal, High or Urgent")] = "",
    sort: Literal["newest", "oldest", "updated"] = "newest",
    site_id: Annotated[str, Query(max_length=64, description="Only tickets at this customer site (T8)")] = "",
    asset_id: Annotated[str, Query(max_length=64, description="Only tickets about this asset (T8)")] = "",
) -> TicketPage:
    """The ticket queue across customers, one keyset page at a time; an unknown status or priority is a 400."""
    assignee_id = session.principal.subject_id if assignee == "me" else ("" if assignee == "none" else assignee)
    page = await backends.tickets.list_tickets(
        session.principal_token,
        page_size=page_size,
        cursor=cursor,
        open_only=open_only,
        query=q,
        status_in=status_is,
        status_not_in=status_is_not,
        sort=sort,
        assignee_id=assignee_id,
        unassigned_only=assignee == "none",
        customer_id=customer_id,
        priority=priority,
        site_id=site_id,
        asset_id=asset_id,
    )
    return TicketPage(items=page.items, next_cursor=page.next_cursor)


class StaffTicketView(BaseModel):
    ticket: Ticket
    comments: list[StaffComment] = Field(description="Newest first: public comments and private notes, marked")
    more_comments: bool
    warning: str | None = Field(None, description="The customer's internal ticket warning (C3); null when none")


@router.get("/tickets/{ticket_id}", responses=problems(401, 403, 404))
async def staff_ticket(session: StaffApiSession, backends: Clients, ticket_id: TicketId) -> StaffTicketView:
    """One ticket, its comments and notes, and the customer's internal warning."""
    token = session.principal_token
    ticket = await backends.tickets.get_ticket(token, ticket_id)
    comments, warning = await asyncio.gather(
        backends.tickets.staff_comments(token, ticket_id, page_size=100),
        backends.identity.internal_ticket_warning(token, ticket.customer_id),
        return_exceptions=True,
    )
    if isinstance(comments, BaseException):
        raise comments
    text = "" if isinstance(warning, BaseException) else warning
    return StaffTicketView(
        ticket=ticket, comments=comments.items, more_comments=bool(comments.next_cursor), warning=text or None
    )


class StaffNewComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMENT_MAX)]
    private: bool = Field(
        False, description="true: a private note, never shown to the customer, emailed, or put in a PDF or export"
    )


@router.post(
    "/tickets/{ticket_id}/comments", status_code=status.HTTP_201_CREATED, responses=problems(401, 403, 404, 409)
)
async def staff_comment(
    body: StaffNewComment, session: StaffApiSession, backends: Clients, ticket_id: TicketId
) -> StaffComment:
    """A public reply (emailed to the ticket's contact) or a private note; a closed ticket is a 409."""
    return await backends.tickets.add_staff_comment(
        session.principal_token,
        ticket_id,
        body=body.body,
        private=body.private,
        author_name=session.principal.display_name,
    )


class Assignee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: RefId = Field(description='A staff user id, "me" for yourself, or empty to unassign')


@router.put("/tickets/{ticket_id}/assignee", responses=problems(401, 403, 404))
async def staff_assign(body: Assignee, session: StaffApiSession, backends: Clients, ticket_id: TicketId) -> Ticket:
    """Assign the ticket to an active staff member (`GET /api/v1/staff/directory`), or unassign it with an empty id;
    anyone else is a 400 naming `assignee_id`."""
    try:
        who = await assignee_id(backends.identity, session.principal_token, session.principal, body.assignee_id)
    except UnknownAssignee:
        raise bad_request("assignee_id", "not an active staff member; see GET /api/v1/staff/directory") from None
    return await backends.tickets.assign(session.principal_token, ticket_id, who)


class NewStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(
        min_length=1,
        max_length=40,
        description="A status of the list in force (GET /api/v1/staff/ticket-statuses; any case). A closed one "
        "(Resolved, Closed, …) ends the ticket's open life (the customer is emailed once); an open one re-opens a "
        "closed ticket. An unknown status is a 400 naming the list.",
    )


@router.put("/tickets/{ticket_id}/status", responses=problems(401, 403, 404))
async def staff_set_status(body: NewStatus, session: StaffApiSession, backends: Clients, ticket_id: TicketId) -> Ticket:
    """Move the ticket to another status."""
    return await backends.tickets.set_status(session.principal_token, ticket_id, body.status)


class TicketSettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_assignee_id: RefId = Field(
        description='Who portal-created tickets go to: a staff id from GET /api/v1/staff/directory, "me", or "" for '
        "nobody"
    )


@router.get("/ticket-settings", responses=problems(401, 403))
async def get_ticket_settings(session: StaffApiSession, backends: Clients) -> TicketSettingsBody:
    """The ticket settings now in force (SPEC T3)."""
    return TicketSettingsBody(default_assignee_id=await backends.tickets.default_assignee(session.principal_token))


@router.put("/ticket-settings", responses=problems(400, 401, 403))
async def put_ticket_settings(
    body: TicketSettingsBody, session: StaffApiSession, backends: Clients
) -> TicketSettingsBody:
    """An admin's change; a technician gets 403. The assignee must be an active staff member (400 otherwise)."""
    try:
        who = await assignee_id(backends.identity, session.principal_token, session.principal, body.default_assignee_id)
    except UnknownAssignee:
        raise bad_request(
            "default_assignee_id", "not an active staff member; see GET /api/v1/staff/directory"
        ) from None
    return TicketSettingsBody(
        default_assignee_id=await backends.tickets.set_default_assignee(session.principal_token, who)
    )


class TicketStatusesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statuses: list[TicketStatus] = Field(
        max_length=20,
        description="The whole list in display order. New (open) and Closed (closed) must stay; a new status needs "
        "label_en and label_fr; a status tickets still have cannot be removed or switch between open and closed "
        "(409 until they are moved).",
    )


@router.get("/ticket-statuses", responses=problems(401, 403))
async def get_ticket_statuses(session: StaffApiSession, backends: Clients) -> TicketStatusesBody:
    """The ticket statuses in force, with their labels in English and French."""
    return TicketStatusesBody(statuses=await backends.tickets.ticket_statuses(session.principal_token))


@router.put("/ticket-statuses", responses=problems(400, 401, 403, 409))
async def put_ticket_statuses(
    body: TicketStatusesBody, session: StaffApiSession, backends: Clients
) -> TicketStatusesBody:
    """An admin replaces the status list (a technician gets 403)."""
    saved = await backends.tickets.set_ticket_statuses(session.principal_token, body.statuses)
    ticket_statuses.forget()
    return TicketStatusesBody(statuses=saved)
