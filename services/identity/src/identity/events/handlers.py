"""The events identity consumes: the tickets service's, which call for emails to the customer or staff, billing's
payment_succeeded, which calls for a receipt, and remote's access_requested, which tells the customer's portal users
a technician asks for remote access to a device. servicekit's Consumer decodes each message (and skips one that does not
decode); the handlers live with the mail they queue."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.mail.billing_notifications import payment_succeeded_handler
from identity.mail.remote_notifications import access_requested_handler
from identity.mail.ticket_notifications import (
    customer_commented_handler,
    queue_ticket_created,
    ticket_closed_handler,
    ticket_commented_handler,
)
from identity.push.notifications import (
    access_request_push_handler,
    estimate_push_handler,
    invoice_push_handler,
    ticket_reply_push_handler,
)
from portal.billing.v1 import events_pb2 as billing_events_pb2
from portal.remote.v1 import events_pb2 as remote_events_pb2
from portal.tickets.v1 import events_pb2 as ticket_events_pb2
from servicekit.db import Database
from servicekit.events import Consumer, EventHandler, subject
from servicekit.metrics import KitMetrics

TICKET_CREATED = subject("tickets", "ticket_created")
TICKET_COMMENTED = subject("tickets", "ticket_commented")
TICKET_CLOSED = subject("tickets", "ticket_closed")
CUSTOMER_COMMENTED = subject("tickets", "customer_commented")
PAYMENT_SUCCEEDED = subject("billing", "payment_succeeded")
ACCESS_REQUESTED = subject("remote", "access_requested")
INVOICE_CREATED = subject("billing", "invoice_created")
ESTIMATE_SENT = subject("billing", "estimate_sent")

TICKET_CREATED_CONSUMER = "identity-ticket-created"
TICKET_COMMENTED_CONSUMER = "identity-ticket-commented"
TICKET_CLOSED_CONSUMER = "identity-ticket-closed"
CUSTOMER_COMMENTED_CONSUMER = "identity-customer-commented"
PAYMENT_SUCCEEDED_CONSUMER = "identity-payment-succeeded"
ACCESS_REQUESTED_CONSUMER = "identity-access-requested"
# Web push (X7): consumers of their own, so a push and an email of the same event never wait on each other.
PUSH_TICKET_COMMENTED_CONSUMER = "identity-push-ticket-commented"
PUSH_INVOICE_CREATED_CONSUMER = "identity-push-invoice-created"
PUSH_ESTIMATE_SENT_CONSUMER = "identity-push-estimate-sent"
PUSH_ACCESS_REQUESTED_CONSUMER = "identity-push-access-requested"


def ticket_created_handler(*, portal_url: str) -> EventHandler:
    """Queue the "ticket received" email in the consumer's unit of work (with its inbox record)."""

    async def handle(s: AsyncSession, event: ticket_events_pb2.TicketCreated, event_id: str) -> None:
        await queue_ticket_created(s, event=event, event_id=event_id, portal_url=portal_url)

    return handle


def _by_event_id(handle: EventHandler) -> EventHandler:
    """The event's own id names the emails it causes, not the NATS message id, so an event published again under
    another message id queues nothing twice."""

    async def handler(s: AsyncSession, event, event_id: str) -> None:  # noqa: ANN001 - any event with meta
        await handle(s, event, event.meta.event_id or event_id)

    return handler


def consumers(*, db: Database, metrics: KitMetrics, portal_url: str) -> list[Consumer]:
    """The durable, inbox-idempotent consumers identity runs, each with its own name."""
    return [
        Consumer(
            name=name,
            subject=subj,
            message=message,
            handler=_by_event_id(make(portal_url=portal_url)),
            db=db,
            metrics=metrics,
        )
        for name, subj, message, make in (
            (TICKET_CREATED_CONSUMER, TICKET_CREATED, ticket_events_pb2.TicketCreated, ticket_created_handler),
            (TICKET_COMMENTED_CONSUMER, TICKET_COMMENTED, ticket_events_pb2.TicketCommented, ticket_commented_handler),
            (TICKET_CLOSED_CONSUMER, TICKET_CLOSED, ticket_events_pb2.TicketClosed, ticket_closed_handler),
            (
                CUSTOMER_COMMENTED_CONSUMER,
                CUSTOMER_COMMENTED,
                ticket_events_pb2.CustomerCommented,
                customer_commented_handler,
            ),
            (
                PAYMENT_SUCCEEDED_CONSUMER,
                PAYMENT_SUCCEEDED,
                billing_events_pb2.PaymentOutcome,
                payment_succeeded_handler,
            ),
            (
                ACCESS_REQUESTED_CONSUMER,
                ACCESS_REQUESTED,
                remote_events_pb2.AccessRequested,
                access_requested_handler,
            ),
            (
                PUSH_TICKET_COMMENTED_CONSUMER,
                TICKET_COMMENTED,
                ticket_events_pb2.TicketCommented,
                ticket_reply_push_handler,
            ),
            (
                PUSH_INVOICE_CREATED_CONSUMER,
                INVOICE_CREATED,
                billing_events_pb2.InvoiceCreated,
                invoice_push_handler,
            ),
            (
                PUSH_ESTIMATE_SENT_CONSUMER,
                ESTIMATE_SENT,
                billing_events_pb2.EstimateSent,
                estimate_push_handler,
            ),
            (
                PUSH_ACCESS_REQUESTED_CONSUMER,
                ACCESS_REQUESTED,
                remote_events_pb2.AccessRequested,
                access_request_push_handler,
            ),
        )
    ]
