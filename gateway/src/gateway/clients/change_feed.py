"""What moves the read cache's versions from outside this process (clients/read_cache.py).

One core-NATS connection per gateway process (not a shared durable consumer: every replica must see every event)
subscribes to `portal.>` — every service event, each a protobuf message whose field 1 is `EventMeta` with the
customer id in its field 3 — and to `gateway.changed`, which each replica publishes after a write it made, for the
writes no service announces (credentials, documents' visibility, ticket statuses, articles...). Only the meta is
read, by hand: the feed knows no service's messages. While the connection is down the cache is bypassed; a
reconnection starts a new epoch, so nothing filled before the gap is served after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Callable

from gateway.clients.read_cache import AREAS, ReadCache
from gateway.edge.metrics import READ_CACHE_EVENTS_CONNECTED

log = logging.getLogger(__name__)

EVENTS = "portal.>"
CHANGED = "gateway.changed"
_MAX_CUSTOMERS = 1000
# Events after which another service changes its own records without an event of its own (its consumer runs a moment
# after the gateway hears the event): those areas move at once and again after each delay. identity's customer events
# change what billing (terms, tax) and remote (remote access) answer.
DERIVED: dict[tuple[str, str], tuple[str, ...]] = {
    ("billing", "invoice_created"): ("tickets",),
    ("identity", "customer_created"): AREAS,
    ("identity", "customer_updated"): AREAS,
    ("identity", "customer_deleted"): AREAS,
}
DERIVED_DELAYS = (0.3, 1.0)
# Events that change no answer the cache holds, so they move no version: identity's email_sent.v1 (one per email
# sent; the mailer's own bookkeeping, read by nobody). Every other identity event still moves the area, including
# sessions_changed (sign-outs, group changes: cheap and safe). identity's once-a-second heartbeat never reaches this
# feed: it is published on identity.sessions.heartbeat, outside portal.> (clients/session_events.py reads it).
IGNORED: frozenset[tuple[str, str]] = frozenset({("identity", "email_sent")})


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _field(data: bytes, number: int) -> bytes | None:
    """The last length-delimited field `number` of a serialized message (last wins, as protobuf merges), or None."""
    found = _fields(data, number)
    return found[-1] if found else None


def _fields(data: bytes, number: int) -> list[bytes]:
    """Every length-delimited field `number` of a serialized message, in order (a repeated string's values)."""
    i, found = 0, []
    while i < len(data):
        tag, i = _varint(data, i)
        wire = tag & 7
        if wire == 0:
            _, i = _varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, i = _varint(data, i)
            if tag >> 3 == number:
                found.append(data[i : i + length])
            i += length
        else:
            raise ValueError(f"wire type {wire}")
        if i > len(data):
            raise ValueError("truncated field")
    return found


def event_customer(data: bytes) -> str:
    """EventMeta.customer_id of an event (field 1, then field 3); "" when none; ValueError when unreadable."""
    return event_scope(data)[0]


def event_scope(data: bytes) -> tuple[str, tuple[str, ...]]:
    """(EventMeta.customer_id, EventMeta.contact_ids) of an event (field 1, then fields 3 and 4): "" and () when
    absent (a contact list only counts with a customer); ValueError when unreadable."""
    meta = _field(data, 1)
    if meta is None:
        return "", ()
    customer = _field(meta, 3)
    if not customer:
        return "", ()
    contacts = tuple(c.decode() for c in _fields(meta, 4) if c)
    return customer.decode(), contacts


class ChangeFeed:
    def __init__(self, cache: ReadCache, nats_url: str) -> None:
        self.cache = cache
        self.nats_url = nats_url
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._nc = None
        self._task: asyncio.Task | None = None
        self._later: set[asyncio.TimerHandle] = set()

    def start(self) -> None:
        """Connect in the background (retrying): the gateway starts, and serves uncached, without NATS."""
        self.cache.announce = self.announce
        self._task = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        import nats

        delay = 0.5
        while True:
            try:
                nc = await nats.connect(
                    servers=[self.nats_url],
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    disconnected_cb=self._down,
                    reconnected_cb=self._up,
                    closed_cb=self._down,
                    error_cb=self._error,
                )
                await nc.subscribe(EVENTS, cb=self._on_event)
                await nc.subscribe(CHANGED, cb=self._on_changed)
                await nc.flush(timeout=2)
            except Exception as exc:  # noqa: BLE001 - any failure: retry, uncached meanwhile
                log.warning("read cache: cannot subscribe to NATS (%s); retrying, reads go uncached", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._nc = nc
            await self._up()
            return

    async def _up(self) -> None:
        self.cache.events_up()
        READ_CACHE_EVENTS_CONNECTED.set(1)

    async def _down(self) -> None:
        self.cache.events_down()
        READ_CACHE_EVENTS_CONNECTED.set(0)

    async def _error(self, exc: Exception) -> None:
        log.debug("read cache: NATS error %s", exc)

    async def close(self) -> None:
        for handle in self._later:
            handle.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
        self.cache.events_down()
        self.cache.announce = None

    async def _on_event(self, msg) -> None:  # noqa: ANN001 - nats.aio.msg.Msg
        parts = msg.subject.split(".")
        area = parts[1] if len(parts) == 4 else ""
        if area not in AREAS or (area, parts[2]) in IGNORED:
            return
        try:
            customer, contacts = event_scope(msg.data)
        except (ValueError, UnicodeDecodeError):
            customer, contacts = "", ()  # unreadable: every customer's version of the area, to be safe
        self.cache.bump(
            (customer,) if customer else (), area, reason="event" if customer else "event_global", contacts=contacts
        )
        derived = DERIVED.get((area, parts[2]))
        if derived:
            self._derived((customer,) if customer else (), derived)

    def _derived(self, customers: tuple[str, ...], areas: tuple[str, ...]) -> None:
        def bump() -> None:
            for a in areas:
                self.cache.bump(customers, a, reason="derived")

        bump()
        for delay in DERIVED_DELAYS:
            self._schedule(delay, bump)

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        def run() -> None:
            self._later.discard(handle)
            fn()

        handle = asyncio.get_running_loop().call_later(delay, run)
        self._later.add(handle)

    async def _on_changed(self, msg) -> None:  # noqa: ANN001
        try:
            body = json.loads(msg.data)
            if body.get("o") == self.origin:
                return  # our own write, bumped already
            area = body["a"]
            customers = tuple(str(c) for c in body.get("c", ()))[:_MAX_CUSTOMERS]
            contacts = tuple(str(c) for c in body.get("k", ()))[:_MAX_CUSTOMERS]
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if area in AREAS:
            self.cache.bump(customers, area, reason="peer_write", contacts=contacts)

    def announce(self, customers: tuple[str, ...], area: str, contacts: tuple[str, ...] = ()) -> None:
        """Tell the other replicas about a write made here (fire and forget: events and the TTL back it up)."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return
        payload = json.dumps({"o": self.origin, "a": area, "c": list(customers), "k": list(contacts)}).encode()
        task = asyncio.ensure_future(nc.publish(CHANGED, payload))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
