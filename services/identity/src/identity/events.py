"""What identity publishes, and the handlers of the events it consumes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.identity.v1 import events_pb2
from portal.tickets.v1 import events_pb2 as ticket_events_pb2
from servicekit.db import Database
from servicekit.events import MSG_ID, Consumer, Handler, add_event, subject
from servicekit.metrics import KitMetrics

if TYPE_CHECKING:
    from identity.customers.models import Customer

log = logging.getLogger(__name__)

CUSTOMER_CREATED = subject("identity", "customer_created")
CUSTOMER_UPDATED = subject("identity", "customer_updated")
CUSTOMER_DELETED = subject("identity", "customer_deleted")
EMAIL_SENT = subject("identity", "email_sent")
TICKET_CREATED = subject("tickets", "ticket_created")

TICKET_CREATED_CONSUMER = "identity-ticket-created"


async def customer_created(s: AsyncSession, customer: Customer) -> None:
    await add_event(
        s,
        CUSTOMER_CREATED,
        events_pb2.CustomerCreated(customer_id=customer.id, display_name=customer.display_name),
        customer_id=customer.id,
    )


async def customer_updated(s: AsyncSession, customer: Customer) -> None:
    """The customer's name and the settings other services act on (tax, terms, email, remote access)."""
    await add_event(
        s,
        CUSTOMER_UPDATED,
        events_pb2.CustomerUpdated(
            customer_id=customer.id,
            display_name=customer.display_name,
            parent_id=customer.parent_id or "",
            tax_rate_bp=customer.tax_rate_bp,
            tax_free=customer.tax_free,
            invoice_terms_days=customer.invoice_terms_days,
            no_email=customer.no_email,
            remote_access_enabled=customer.remote_access_enabled,
            internal_ticket_warning=customer.internal_ticket_warning,
            archived=customer.archived_at is not None,
        ),
        customer_id=customer.id,
    )


async def customer_deleted(s: AsyncSession, customer_id: str) -> None:
    await add_event(s, CUSTOMER_DELETED, events_pb2.CustomerDeleted(customer_id=customer_id), customer_id=customer_id)


async def email_sent(s: AsyncSession, *, template: str, recipient: str, cause_event_id: str, customer_id: str) -> None:
    await add_event(
        s,
        EMAIL_SENT,
        events_pb2.EmailSent(template=template, recipient=recipient, cause_event_id=cause_event_id),
        customer_id=customer_id,
    )


def ticket_created_handler(*, portal_url: str) -> Handler:
    """Queue the "ticket received" email in the consumer's unit of work (with its inbox record)."""
    from identity.mail.service import queue_ticket_created

    async def handle(s: AsyncSession, data: bytes, headers: dict[str, str]) -> None:
        try:
            event = ticket_events_pb2.TicketCreated.FromString(data)
        except DecodeError:
            # Redelivering a message that cannot be read would never succeed; the inbox records it as handled.
            log.warning("ticket_created event %s is not a TicketCreated message; skipped", headers.get(MSG_ID, "?"))
            return
        event_id = event.meta.event_id or headers.get(MSG_ID) or f"ticket:{event.ticket_id}"
        await queue_ticket_created(s, event=event, event_id=event_id, portal_url=portal_url)

    return handle


def consumers(*, db: Database, metrics: KitMetrics, portal_url: str) -> list[Consumer]:
    from identity.mail.ticket_notifications import ticket_consumers

    return [
        Consumer(
            name=TICKET_CREATED_CONSUMER,
            subject=TICKET_CREATED,
            handler=ticket_created_handler(portal_url=portal_url),
            db=db,
            metrics=metrics,
        ),
        *ticket_consumers(db=db, metrics=metrics, portal_url=portal_url),
    ]
