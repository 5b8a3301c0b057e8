"""The events the tickets service publishes (portal/tickets/v1/events.proto), each written to the outbox in the unit of
work of the change it reports. Imports models only, so every domain module can publish without a cycle."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from portal.tickets.v1 import events_pb2
from servicekit.events import add_event, subject
from tickets.tickets.models import Comment, Ticket

TICKET_CREATED = subject("tickets", "ticket_created")
TICKET_COMMENTED = subject("tickets", "ticket_commented")
TICKET_CLOSED = subject("tickets", "ticket_closed")
CUSTOMER_COMMENTED = subject("tickets", "customer_commented")


def _mine(ticket: Ticket) -> tuple[str, ...]:
    """The contacts whose "Mine" view of tickets the event changes (EventMeta.contact_ids): the ticket's contact. A
    ticket without one shows in its creator's "Mine" (tickets.service.visible_to), so it names nobody (= anyone)."""
    return (ticket.contact_id,) if ticket.contact_id else ()


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
    return await add_event(session, TICKET_CREATED, message, customer_id=ticket.customer_id, contact_ids=_mine(ticket))


async def ticket_commented(session: AsyncSession, ticket: Ticket, comment: Comment) -> str:
    """Record portal.tickets.ticket_commented.v1; a private note's text is left out of the event."""
    message = events_pb2.TicketCommented(
        ticket_id=ticket.id,
        number=ticket.number,
        customer_id=ticket.customer_id,
        contact_id=ticket.contact_id,
        subject=ticket.subject,
        comment_id=comment.id,
        is_public=comment.is_public,
        author_kind=comment.author_kind,
        author_id=comment.author_id,
        author_name=comment.author_name,
        body=comment.body if comment.is_public else "",
    )
    return await add_event(
        session, TICKET_COMMENTED, message, customer_id=ticket.customer_id, contact_ids=_mine(ticket)
    )


async def ticket_closed(session: AsyncSession, ticket: Ticket, *, closed_by: str, kind: str) -> str:
    """Record portal.tickets.ticket_closed.v1."""
    message = events_pb2.TicketClosed(
        ticket_id=ticket.id,
        number=ticket.number,
        customer_id=ticket.customer_id,
        contact_id=ticket.contact_id,
        subject=ticket.subject,
        closed_by=closed_by,
        closed_by_kind=kind,
    )
    return await add_event(session, TICKET_CLOSED, message, customer_id=ticket.customer_id, contact_ids=_mine(ticket))


async def customer_commented(session: AsyncSession, ticket: Ticket, comment: Comment) -> str:
    """Record portal.tickets.customer_commented.v1, which tells staff a customer wrote (T7)."""
    message = events_pb2.CustomerCommented(
        ticket_id=ticket.id,
        number=ticket.number,
        customer_id=ticket.customer_id,
        subject=ticket.subject,
        comment_id=comment.id,
        assignee_id=ticket.assignee_id,
        author_name=comment.author_name,
    )
    return await add_event(
        session, CUSTOMER_COMMENTED, message, customer_id=ticket.customer_id, contact_ids=_mine(ticket)
    )
