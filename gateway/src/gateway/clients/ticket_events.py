"""Tickets' public-comment events from NATS, for the live ticket pages (the gateway's one event subscription).

One subscription per gateway process on portal.tickets.ticket_commented.v1 fans public comments out to the
listeners of each ticket; private notes are dropped here (their text is not even in the event).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

from portal.tickets.v1 import events_pb2
from servicekit.subjects import subject

SUBJECT = subject("tickets", "ticket_commented")
QUEUE_SIZE = 100


class TicketFeed:
    """Public comments by ticket id, for the streams currently open in this process."""

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
            await nc.subscribe(SUBJECT, cb=self._on_message)
            self._nc = nc

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            self._nc = None

    async def _on_message(self, msg) -> None:  # noqa: ANN001 - nats.aio.msg.Msg
        try:
            event = events_pb2.TicketCommented.FromString(msg.data)
        except Exception:  # noqa: BLE001 - an unreadable event is simply not shown
            return
        if not event.is_public:
            return
        self.publish(event)

    def publish(self, event: events_pb2.TicketCommented) -> None:
        for queue in list(self._listeners.get(event.ticket_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    @contextlib.contextmanager
    def listen(self, ticket_id: str):  # noqa: ANN201
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self._listeners[ticket_id].add(queue)
        try:
            yield queue
        finally:
            self._listeners[ticket_id].discard(queue)
            if not self._listeners[ticket_id]:
                del self._listeners[ticket_id]
