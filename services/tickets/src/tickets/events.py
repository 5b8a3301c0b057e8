"""What the tickets service publishes (through the outbox) and the handlers of what it consumes."""

from __future__ import annotations

import logging

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.billing.v1 import events_pb2 as billing_events_pb2
from portal.tickets.v1 import events_pb2
from servicekit.db import Database
from servicekit.events import MSG_ID, Consumer, add_event, subject
from servicekit.metrics import KitMetrics
from tickets.tickets.models import Comment, Ticket

log = logging.getLogger(__name__)

TICKET_CREATED = subject("tickets", "ticket_created")
TICKET_COMMENTED = subject("tickets", "ticket_commented")
TICKET_CLOSED = subject("tickets", "ticket_closed")
CUSTOMER_COMMENTED = subject("tickets", "customer_commented")

INVOICE_CREATED = subject("billing", "invoice_created")
INVOICE_CREATED_CONSUMER = "tickets-invoice-created"


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
    return await add_event(session, TICKET_COMMENTED, message, customer_id=ticket.customer_id)


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
    return await add_event(session, TICKET_CLOSED, message, customer_id=ticket.customer_id)


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
    return await add_event(session, CUSTOMER_COMMENTED, message, customer_id=ticket.customer_id)


async def on_invoice_created(s: AsyncSession, data: bytes, headers: dict[str, str]) -> None:
    """Billing made an invoice; when it names a ticket of the same customer, that ticket shows "Invoiced #N"."""
    from tickets.tickets import service

    try:
        event = billing_events_pb2.InvoiceCreated.FromString(data)
    except DecodeError:
        # A message that cannot be read would fail on every redelivery; the inbox records it as handled.
        log.warning("invoice_created event %s is not an InvoiceCreated message; skipped", headers.get(MSG_ID, "?"))
        return
    if not event.ticket_id:
        return
    marked = await service.mark_invoiced(
        s,
        ticket_id=event.ticket_id,
        customer_id=event.meta.customer_id,
        invoice_id=event.invoice_id,
        invoice_number=event.number,
    )
    if not marked:
        # Another customer's ticket, or one that does not exist here: nothing to mark, and nothing to retry.
        log.warning(
            "invoice %s names ticket %s, which is not its customer's; ignored", event.invoice_id, event.ticket_id
        )


def consumers(*, db: Database, metrics: KitMetrics) -> list[Consumer]:
    """The durable, inbox-idempotent consumers the tickets service runs."""
    return [
        Consumer(
            name=INVOICE_CREATED_CONSUMER, subject=INVOICE_CREATED, handler=on_invoice_created, db=db, metrics=metrics
        )
    ]
