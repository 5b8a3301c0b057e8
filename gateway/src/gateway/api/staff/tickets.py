"""Staff JSON API for tickets (SPEC S2, T3): open a ticket for any customer, with the customer's internal ticket
warning in the answer so staff see it on every new ticket.

Staff sign in with `POST /api/v1/staff/sessions` and send that token as the bearer; a portal session gets 403, and
the tickets service itself requires a staff principal to name the customer."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession, TicketIdempotencyKey
from gateway.api.docs import problems
from gateway.api.schemas import NewTicket
from gateway.api.staff.checks import check_customer
from gateway.clients.schemas import Ticket

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
