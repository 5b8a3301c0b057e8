"""What the tickets service publishes (through the outbox) and, later, the handlers of what it consumes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from portal.tickets.v1 import events_pb2
from servicekit.events import add_event, subject
from tickets.tickets.models import Ticket

TICKET_CREATED = subject("tickets", "ticket_created")


async def ticket_created(session: AsyncSession, ticket: Ticket) -> str:
    """Record portal.tickets.ticket_created.v1 in the caller's transaction; returns the event id."""
    message = events_pb2.TicketCreated(
        ticket_id=ticket.id,
        number=ticket.number,
        customer_id=ticket.customer_id,
        contact_id=ticket.contact_id,
        subject=ticket.subject,
        created_by=ticket.created_by,
    )
    return await add_event(session, TICKET_CREATED, message, customer_id=ticket.customer_id)
