"""The handlers of the events the tickets service consumes (durable, idempotent on event id through the inbox)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from portal.billing.v1 import events_pb2 as billing_events_pb2
from servicekit.db import Database
from servicekit.events import Consumer, subject
from servicekit.metrics import KitMetrics
from tickets.tickets import service

log = logging.getLogger(__name__)

INVOICE_CREATED = subject("billing", "invoice_created")
INVOICE_CREATED_CONSUMER = "tickets-invoice-created"


async def on_invoice_created(s: AsyncSession, event: billing_events_pb2.InvoiceCreated, event_id: str) -> None:
    """Billing made an invoice; when it names a ticket of the same customer, that ticket shows "Invoiced #N"."""
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
            name=INVOICE_CREATED_CONSUMER,
            subject=INVOICE_CREATED,
            message=billing_events_pb2.InvoiceCreated,
            handler=on_invoice_created,
            db=db,
            metrics=metrics,
        )
    ]
