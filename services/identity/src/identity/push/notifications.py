"""The events identity pushes (X7), next to the emails it sends for the same events (`identity.mail`):

- a staff member's public reply on a ticket → "ticket replies", to users who may see the ticket (Tickets - View All,
  or View Mine when it is their contact's ticket);
- an estimate sent (billing's estimate_sent) → "estimates", to users with Estimates - View All, or View Mine when
  it is their contact's estimate;
- an invoice issued (billing's invoice_created) → "invoices", to users with Invoices - View All (the event names no
  contact, so View Mine users are not told);
- a technician asking for remote access to a device → "remote requests", to users who may see assets (View All, or
  View Mine, as the device email does).

Only users who turned the kind on (`push.service.subscribers`) and their browsers get one; the payload is a title, a
short text and a portal path. The consumers are durable and inbox-idempotent, and a push is unique per (event,
subscription), so a redelivery queues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from identity.mail.words import say
from identity.push import service as push
from portal.billing.v1 import events_pb2 as billing_events_pb2
from portal.remote.v1 import events_pb2 as remote_events_pb2
from portal.tickets.v1 import events_pb2 as ticket_events_pb2
from servicekit.events import EventHandler
from servicekit.permissions import (
    ASSETS_VIEW_ALL,
    ASSETS_VIEW_MINE,
    ESTIMATES_VIEW_ALL,
    ESTIMATES_VIEW_MINE,
    INVOICES_VIEW_ALL,
    INVOICES_VIEW_MINE,
    TICKETS_VIEW_ALL,
    TICKETS_VIEW_MINE,
)

log = logging.getLogger(__name__)


async def _push(
    s: AsyncSession,
    event_id: str,
    *,
    kind: str,
    customer_id: str,
    view_all: str,
    view_mine: str,
    contact_id: str = "",
    mine_without_contact: bool = False,
    words: Callable[[str], tuple[str, str]],
    path: str,
) -> None:
    """Queue one push of `kind` to every subscription of the customer's users who opted in and may see the record."""
    subs = await push.subscribers(
        s,
        customer_id=customer_id,
        kind=kind,
        view_all=view_all,
        view_mine=view_mine,
        contact_id=contact_id,
        mine_without_contact=mine_without_contact,
    )
    await push.queue_push(
        s,
        cause_event_id=event_id,
        subscriptions=subs,
        kind=kind,
        customer_id=customer_id,
        words=words,
        path=path,
    )


def ticket_reply_push_handler(*, portal_url: str) -> EventHandler:  # noqa: ARG001 - a path, not a link
    async def handle(s: AsyncSession, event: ticket_events_pb2.TicketCommented, event_id: str) -> None:
        if not event.is_public or event.author_kind != "staff":
            return
        await _push(
            s,
            event_id,
            kind=push.TICKET_REPLIES,
            customer_id=event.customer_id,
            view_all=TICKETS_VIEW_ALL,
            view_mine=TICKETS_VIEW_MINE,
            contact_id=event.contact_id,
            words=lambda lang: (say(lang, "push.ticket_reply.title", number=event.number), event.subject),
            path=f"/tickets/{event.ticket_id}",
        )

    return handle


def estimate_push_handler(*, portal_url: str) -> EventHandler:  # noqa: ARG001
    async def handle(s: AsyncSession, event: billing_events_pb2.EstimateSent, event_id: str) -> None:
        await _push(
            s,
            event_id,
            kind=push.ESTIMATES,
            customer_id=event.meta.customer_id,
            view_all=ESTIMATES_VIEW_ALL,
            view_mine=ESTIMATES_VIEW_MINE,
            contact_id=event.contact_id,
            words=lambda lang: (
                say(lang, "push.estimate.title", number=event.number),
                say(lang, "push.estimate.text"),
            ),
            path=f"/billing/estimates/{event.estimate_id}",
        )

    return handle


def invoice_push_handler(*, portal_url: str) -> EventHandler:  # noqa: ARG001
    async def handle(s: AsyncSession, event: billing_events_pb2.InvoiceCreated, event_id: str) -> None:
        await _push(
            s,
            event_id,
            kind=push.INVOICES,
            customer_id=event.meta.customer_id,
            view_all=INVOICES_VIEW_ALL,
            view_mine=INVOICES_VIEW_MINE,
            words=lambda lang: (say(lang, "push.invoice.title", number=event.number), say(lang, "push.invoice.text")),
            path=f"/billing/invoices/{event.invoice_id}",
        )

    return handle


def access_request_push_handler(*, portal_url: str) -> EventHandler:  # noqa: ARG001
    async def handle(s: AsyncSession, event: remote_events_pb2.AccessRequested, event_id: str) -> None:
        await _push(
            s,
            event_id,
            kind=push.REMOTE_REQUESTS,
            customer_id=event.meta.customer_id,
            view_all=ASSETS_VIEW_ALL,
            view_mine=ASSETS_VIEW_MINE,
            mine_without_contact=True,
            words=lambda lang: (
                say(lang, "push.access.title"),
                say(
                    lang,
                    "push.access.text",
                    who=event.requested_by or say(lang, "push.access.someone"),
                    device=event.asset_name or say(lang, "push.access.a_device"),
                ),
            ),
            path="/remote-requests",
        )

    return handle
