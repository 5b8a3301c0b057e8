"""Which of the portal home's sections changed, from the events the services already publish (SPEC X9).

One NATS core subscription per gateway process and subject; each event becomes (customer id, section keys) for the
home pages of that customer currently open in this process. Only the section names travel to the browser, which
then asks for those sections again with its own session, so an event never shows anything the user may not see.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable

from portal.assets.v1 import events_pb2 as assets_events
from portal.billing.v1 import events_pb2 as billing_events
from portal.tickets.v1 import events_pb2 as tickets_events
from servicekit.subjects import subject

_TICKETS = ("open_tickets", "recent_tickets", "charts", "open_invoices")
_BILLING = ("account_overview", "open_invoices", "recent_payments", "estimates")
# subject → (the message to read the customer from, the home sections it may change).
SUBJECTS: dict[str, tuple[type, tuple[str, ...]]] = {
    subject("tickets", "ticket_created"): (tickets_events.TicketCreated, _TICKETS),
    subject("tickets", "ticket_commented"): (tickets_events.TicketCommented, _TICKETS),
    subject("tickets", "ticket_closed"): (tickets_events.TicketClosed, _TICKETS),
    subject("tickets", "customer_commented"): (tickets_events.CustomerCommented, _TICKETS),
    subject("billing", "invoice_created"): (billing_events.InvoiceCreated, _BILLING),
    subject("billing", "invoice_paid"): (billing_events.InvoicePaid, _BILLING),
    subject("billing", "payment_succeeded"): (billing_events.PaymentOutcome, _BILLING),
    subject("billing", "payment_failed"): (billing_events.PaymentOutcome, _BILLING),
    subject("billing", "estimate_approved"): (billing_events.EstimateDecided, _BILLING),
    subject("billing", "estimate_declined"): (billing_events.EstimateDecided, _BILLING),
    subject("billing", "payment_refunded"): (billing_events.PaymentRefunded, _BILLING),
    subject("assets", "asset_created"): (assets_events.AssetCreated, ("assets",)),
    subject("assets", "asset_updated"): (assets_events.AssetUpdated, ("assets",)),
    subject("assets", "asset_retired"): (assets_events.AssetRetired, ("assets",)),
    subject("assets", "document_added"): (assets_events.DocumentAdded, ("attachments", "recent_documents")),
}
QUEUE_SIZE = 100


def customer_of(message) -> str:  # noqa: ANN001 - one of SUBJECTS' messages
    """The customer an event is about: the message's own customer_id, else its meta's."""
    own = getattr(message, "customer_id", "")
    return own or message.meta.customer_id


class HomeFeed:
    """Changed home sections by customer id, for the home streams currently open in this process."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self._listeners: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._nc = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Subscribe once; raises when NATS cannot be reached quickly (the stream then answers 503)."""
        if self._nc is not None:
            return
        async with self._lock:
            if self._nc is not None:
                return
            import nats

            nc = await nats.connect(servers=[self.nats_url], connect_timeout=2, max_reconnect_attempts=-1)
            for name in SUBJECTS:
                await nc.subscribe(name, cb=self._on_message)
            self._nc = nc

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            self._nc = None

    async def _on_message(self, msg) -> None:  # noqa: ANN001 - nats.aio.msg.Msg
        known = SUBJECTS.get(msg.subject)
        if known is None:
            return
        kind, sections = known
        try:
            event = kind.FromString(msg.data)
        except Exception:  # noqa: BLE001 - an unreadable event changes nothing on a page
            return
        if isinstance(event, tickets_events.TicketCommented) and not event.is_public:
            return
        self.publish(customer_of(event), sections)

    def publish(self, customer_id: str, sections: Iterable[str]) -> None:
        changed = tuple(sections)
        for queue in list(self._listeners.get(customer_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(changed)

    @contextlib.contextmanager
    def listen(self, customer_ids: Iterable[str]):  # noqa: ANN201
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        ids = [c for c in dict.fromkeys(customer_ids) if c]
        for c in ids:
            self._listeners[c].add(queue)
        try:
            yield queue
        finally:
            for c in ids:
                self._listeners[c].discard(queue)
                if not self._listeners[c]:
                    del self._listeners[c]
