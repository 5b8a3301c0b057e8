"""The handlers of the events the tickets service consumes (durable, idempotent on event id through the inbox)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from portal.billing.v1 import events_pb2 as billing_events_pb2
from portal.remote.v1 import events_pb2 as remote_events_pb2
from servicekit.db import Database
from servicekit.events import Consumer, EventHandler, subject
from servicekit.metrics import KitMetrics
from tickets.comments.service import add_system_comment
from tickets.events import remote_notes
from tickets.tickets import service

log = logging.getLogger(__name__)

INVOICE_CREATED = subject("billing", "invoice_created")
INVOICE_CREATED_CONSUMER = "tickets-invoice-created"

# The remote service's records, each a public comment on the ticket the event names (issue 14).
SCRIPT_RUN_FINISHED = subject("remote", "script_run_finished")
REMOTE_SESSION_ENDED = subject("remote", "remote_session_ended")
ACCESS_REQUESTED = subject("remote", "access_requested")
ACCESS_DECIDED = subject("remote", "access_decided")
# Comment ids are uuid5(this, "<subject> <event id>"): the same event always names the same comment.
_COMMENT_IDS = uuid.UUID("0b9e5a52-3c1e-4f51-9d63-6a3f2e1c7b40")


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


def note_on_ticket(subj: str, render: Callable[[Message], str]) -> EventHandler:
    """A handler writing `render(event)` as a public comment by "Remote actions" on the event's ticket, only when
    that ticket is the event's customer's (meta.customer_id). The inbox drops a redelivered event; the comment id,
    derived from the event's own id, also keeps an event republished under another message id to one comment."""

    async def handle(s: AsyncSession, event, event_id: str) -> None:  # noqa: ANN001 - a remote event with meta
        if not event.ticket_id:
            return
        key = event.meta.event_id or event_id
        comment = await add_system_comment(
            s,
            ticket_id=event.ticket_id,
            customer_id=event.meta.customer_id,
            comment_id=str(uuid.uuid5(_COMMENT_IDS, f"{subj} {key}")),
            body=render(event),
            author_name=remote_notes.AUTHOR,
        )
        if comment is None:
            # Another customer's ticket, or none here: nothing to write, and nothing to retry.
            log.warning(
                "%s event %s names ticket %r, which is not customer %r's; ignored",
                subj,
                key,
                event.ticket_id[:64],
                event.meta.customer_id[:64],
            )

    return handle


on_script_run_finished = note_on_ticket(SCRIPT_RUN_FINISHED, remote_notes.script_run)
on_remote_session_ended = note_on_ticket(REMOTE_SESSION_ENDED, remote_notes.session_ended)
on_access_requested = note_on_ticket(ACCESS_REQUESTED, remote_notes.access_requested)
on_access_decided = note_on_ticket(ACCESS_DECIDED, remote_notes.access_decided)

REMOTE_CONSUMERS: tuple[tuple[str, str, type[Message], EventHandler], ...] = (
    ("tickets-script-run-finished", SCRIPT_RUN_FINISHED, remote_events_pb2.ScriptRunFinished, on_script_run_finished),
    (
        "tickets-remote-session-ended",
        REMOTE_SESSION_ENDED,
        remote_events_pb2.RemoteSessionEnded,
        on_remote_session_ended,
    ),
    ("tickets-access-requested", ACCESS_REQUESTED, remote_events_pb2.AccessRequested, on_access_requested),
    ("tickets-access-decided", ACCESS_DECIDED, remote_events_pb2.AccessDecided, on_access_decided),
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
        ),
        *(
            Consumer(name=name, subject=subj, message=message, handler=handler, db=db, metrics=metrics)
            for name, subj, message, handler in REMOTE_CONSUMERS
        ),
    ]
