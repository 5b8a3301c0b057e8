"""The events identity consumes: the tickets service's, which call for emails to the customer or staff."""

from __future__ import annotations

import logging

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from identity.mail.service import queue_ticket_created
from identity.mail.ticket_notifications import ticket_consumers
from portal.tickets.v1 import events_pb2 as ticket_events_pb2
from servicekit.db import Database
from servicekit.events import MSG_ID, Consumer, Handler, subject
from servicekit.metrics import KitMetrics

log = logging.getLogger(__name__)

TICKET_CREATED = subject("tickets", "ticket_created")

TICKET_CREATED_CONSUMER = "identity-ticket-created"


def ticket_created_handler(*, portal_url: str) -> Handler:
    """Queue the "ticket received" email in the consumer's unit of work (with its inbox record)."""

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
