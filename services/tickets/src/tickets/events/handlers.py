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
from servicekit.errors import InvalidArgument
from servicekit.events import Consumer, EventHandler, subject
from servicekit.metrics import KitMetrics
from servicekit.permissions import TICKETS_CREATE
from servicekit.principal import KIND_PORTAL_USER, Principal
from tickets.comments.service import add_system_comment
from tickets.events import remote_notes
from tickets.tickets import service
from tickets.tickets import settings as ticket_settings
from tickets.tickets.models import Ticket

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


# The created_by of a ticket opened for a run (no user made it: recording the run is the system's doing).
RUN_TICKET_CREATOR = "remote"


async def open_run_ticket(
    s: AsyncSession, event: remote_events_pb2.ScriptRunFinished, *, default_assignee: str
) -> None:
    """A run that asked for a new ticket (SPEC X2): open the ticket remote named, with exactly that id, for the
    event's customer and the run's contact, as a portal user's ticket is opened (status New, the default assignee,
    ticket_created and its emails), unless it exists already (a redelivery, or an event republished)."""
    try:
        ticket_id = str(uuid.UUID(event.ticket_id))
    except ValueError:
        return
    customer_id = event.meta.customer_id
    if not customer_id or await s.get(Ticket, ticket_id) is not None:
        return
    opener = Principal(
        kind=KIND_PORTAL_USER,
        subject_id=RUN_TICKET_CREATOR,
        customer_id=customer_id,
        contact_id=event.contact_id,
        permissions=frozenset({TICKETS_CREATE}),
        # The ticket's contact name, when the run was for a contact: the portal user's name.
        display_name=event.requested_by,
    )
    try:
        await service.create_ticket(
            s,
            principal=opener,
            subject=remote_notes.run_ticket_subject(event),
            description=remote_notes.run_ticket_description(event),
            # remote had assets check the asset is this customer's.
            asset_id=event.asset_id,
            default_assignee=await ticket_settings.default_assignee(s, fallback=default_assignee),
            ticket_id=ticket_id,
        )
    except InvalidArgument as e:
        # Nothing a retry would change: the run's note then finds no ticket and is dropped, logged.
        log.warning("run %s: cannot open its new ticket %s: %s", event.script_run_id[:64], ticket_id, e)


def script_run_handler(default_assignee: str = "") -> EventHandler:
    """ScriptRunFinished: open the run's new ticket when it asked for one, then note the run on its ticket."""
    note = note_on_ticket(SCRIPT_RUN_FINISHED, remote_notes.script_run)

    async def handle(s: AsyncSession, event: remote_events_pb2.ScriptRunFinished, event_id: str) -> None:
        if event.new_ticket:
            await open_run_ticket(s, event, default_assignee=default_assignee)
        await note(s, event, event_id)

    return handle


on_remote_session_ended = note_on_ticket(REMOTE_SESSION_ENDED, remote_notes.session_ended)
on_access_requested = note_on_ticket(ACCESS_REQUESTED, remote_notes.access_requested)
on_access_decided = note_on_ticket(ACCESS_DECIDED, remote_notes.access_decided)


def remote_consumers(default_assignee: str = "") -> tuple[tuple[str, str, type[Message], EventHandler], ...]:
    """(durable name, subject, message, handler) of each remote event consumer; `default_assignee` is the setting's
    fallback for a run's new ticket when no default assignee was saved."""
    return (
        (
            "tickets-script-run-finished",
            SCRIPT_RUN_FINISHED,
            remote_events_pb2.ScriptRunFinished,
            script_run_handler(default_assignee),
        ),
        (
            "tickets-remote-session-ended",
            REMOTE_SESSION_ENDED,
            remote_events_pb2.RemoteSessionEnded,
            on_remote_session_ended,
        ),
        ("tickets-access-requested", ACCESS_REQUESTED, remote_events_pb2.AccessRequested, on_access_requested),
        ("tickets-access-decided", ACCESS_DECIDED, remote_events_pb2.AccessDecided, on_access_decided),
    )


REMOTE_CONSUMERS = remote_consumers()


def consumers(*, db: Database, metrics: KitMetrics, default_assignee: str = "") -> list[Consumer]:
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
            for name, subj, message, handler in remote_consumers(default_assignee)
        ),
    ]
