"""NATS JetStream: the connection, the stream, the transactional outbox and its relay, and durable consumers.

A change and its event are written in one transaction (the outbox); the relay publishes each event with
Nats-Msg-Id = event id, so a relay retry is deduplicated by JetStream. Consumers record each handled event
id in the inbox table in the same transaction as their effect, so a redelivery changes nothing.

A message whose handler keeps failing is delivered at most `max_deliver` times; the last failure parks it in
the dead-letter stream (DEAD_STREAM, subject `deadletter.<consumer>.<original subject>`) with the consumer,
the error class and the delivery count in its headers, and the consumer moves on.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import nats
import sqlalchemy as sa
from google.protobuf.message import DecodeError, Message
from nats.aio.client import Client as NatsClient
from nats.js import api as js_api
from nats.js.errors import BadRequestError
from opentelemetry import trace
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import Database, signal_after_commit
from servicekit.errors import Unavailable
from servicekit.metrics import KitMetrics
from servicekit.outbox_tables import inbox, outbox
from servicekit.subjects import subject as subject  # the services name subjects through this module
from servicekit.telemetry import extract_context, inject_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("servicekit.events")

STREAM = "PORTAL"
MSG_ID = "Nats-Msg-Id"
OUTBOX_SIGNAL = "outbox"
# Parked messages: kept 30 days for an operator to read and replay (docs/operations.md, "Dead letters").
DEAD_STREAM = "PORTAL_DEADLETTER"
DEAD_SUBJECTS = "deadletter.>"
DEAD_MAX_AGE = 30 * 24 * 3600.0
DEAD_CONSUMER = "Portal-Dead-Consumer"
DEAD_ERROR = "Portal-Dead-Error"
DEAD_DELIVERIES = "Portal-Dead-Deliveries"
DEAD_SUBJECT = "Portal-Dead-Subject"
# How often a consumer asks the server how far behind it is (the consumer-lag gauge), at most.
LAG_EVERY = 5.0


async def _on_error(exc: Exception) -> None:
    # The client reports every failed reconnect attempt; one line each, without a traceback.
    log.warning("NATS: %s: %s", exc.__class__.__name__, exc)


async def _on_disconnect() -> None:
    log.warning("NATS disconnected; events wait in the outbox until it is back")


async def _on_reconnect() -> None:
    log.info("NATS reconnected")


async def connect(url: str, name: str) -> NatsClient:
    """Connect, retrying until NATS answers; afterwards the client reconnects by itself forever."""
    delay = 0.2
    while True:
        try:
            return await nats.connect(
                servers=[url],
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                error_cb=_on_error,
                disconnected_cb=_on_disconnect,
                reconnected_cb=_on_reconnect,
            )
        except (OSError, nats.errors.NoServersError, nats.errors.TimeoutError) as exc:
            log.warning("NATS not reachable at %s (%s); retrying", url, exc.__class__.__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)


async def ensure_stream(nc: NatsClient) -> None:
    """The one stream holding every portal event, with a duplicate window for Nats-Msg-Id."""
    js = nc.jetstream()
    config = js_api.StreamConfig(
        name=STREAM,
        subjects=["portal.>"],
        storage=js_api.StorageType.FILE,
        duplicate_window=120.0,
    )
    dead = js_api.StreamConfig(
        name=DEAD_STREAM,
        subjects=[DEAD_SUBJECTS],
        storage=js_api.StorageType.FILE,
        duplicate_window=120.0,
        max_age=DEAD_MAX_AGE,
    )
    for cfg in (config, dead):
        try:
            await js.add_stream(cfg)
        except BadRequestError:
            await js.update_stream(cfg)


def dead_letter_subject(consumer: str, subj: str) -> str:
    return f"deadletter.{consumer}.{subj}"


async def add_event(
    session: AsyncSession, subj: str, message: Message, *, customer_id: str = "", contact_ids: Sequence[str] = ()
) -> str:
    """Write `message` to the outbox in the caller's transaction; fills meta.event_id and occurred_at, and the
    customer and the contacts it concerns (EventMeta.contact_ids: only when sure; empty means any contact)."""
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    meta = message.meta  # every event message carries portal.common.v1.EventMeta as `meta`
    meta.event_id = event_id
    meta.occurred_at.FromDatetime(now)
    if customer_id:
        meta.customer_id = customer_id
    meta.contact_ids.extend(c for c in contact_ids if c)
    headers = inject_headers()
    headers[MSG_ID] = event_id
    signal_after_commit(session, OUTBOX_SIGNAL)
    await session.execute(
        sa.insert(outbox).values(
            id=event_id,
            subject=subj,
            payload=message.SerializeToString(),
            headers=headers,
            created_at=now,
        )
    )
    return event_id


# Seconds between two measurements of the outbox's backlog by the relay (the gauges scrape far less often).
BACKLOG_INTERVAL = 1.0


class OutboxRelay:
    """Publishes unsent outbox rows; wakes on every commit and polls as a fallback."""

    def __init__(self, db: Database, nc: NatsClient, metrics: KitMetrics, *, batch: int = 100) -> None:
        self._db = db
        self._js = nc.jetstream()
        self._metrics = metrics
        self._batch = batch
        self._wake = asyncio.Event()
        db.on_commit(OUTBOX_SIGNAL, self._wake.set)
        self._measured_at = float("-inf")

    async def run(self) -> None:
        backoff = 0.2
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                while await self.publish_pending() == self._batch:
                    pass
                # At most once a second (the wait above times out every second, so the gauges are at most about
                # two seconds old): the relay wakes after every commit, and measuring on each pass cost about as
                # much CPU as publishing (a session and a query per new ticket, measured under issue 16's load).
                if loop.time() - self._measured_at >= BACKLOG_INTERVAL:
                    self._measured_at = loop.time()
                    await self._measure_backlog()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down or the database busy: keep the rows, try again
                log.warning("outbox relay: %s: %s; retrying", exc.__class__.__name__, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)
                self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch in creation order; returns how many were published."""
        async with self._db.sessions() as s:
            rows = (
                await s.execute(
                    sa.select(outbox.c.id, outbox.c.subject, outbox.c.payload, outbox.c.headers)
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.created_at, outbox.c.id)
                    .limit(self._batch)
                )
            ).all()
        sent: list[str] = []
        try:
            for row in rows:
                await self._js.publish(row.subject, row.payload, headers=dict(row.headers), timeout=2)
                sent.append(row.id)
                self._metrics.events_published.labels(row.subject).inc()
        finally:
            if sent:
                async with self._db.sessions() as s, s.begin():
                    await s.execute(sa.update(outbox).where(outbox.c.id.in_(sent)).values(sent_at=datetime.now(UTC)))
        return len(sent)

    async def _measure_backlog(self) -> None:
        async with self._db.sessions() as s:
            count, oldest = (
                await s.execute(
                    sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
                )
            ).one()
        self._metrics.outbox_backlog.set(count)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        self._metrics.outbox_oldest_age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)


Handler = Callable[[AsyncSession, bytes, dict[str, str]], Awaitable[None]]
# A handler of decoded events: the session, the event message and its event id (the inbox key).
EventHandler = Callable[[AsyncSession, Any, str], Awaitable[None]]


class Consumer:
    """A durable pull consumer whose handler runs in one unit of work with the inbox record.

    With `message` (the event's protobuf class) the handler receives the decoded event and its id; a message that
    does not decode is logged and recorded as handled, since it would fail the same way on every redelivery.
    Without it the handler receives the raw bytes and headers.

    A failed delivery is redelivered after `redeliver_delay` seconds, at most `max_deliver` deliveries in all
    (JetStream's delivery count, so it holds across replicas and restarts); the last failure parks the message
    in the dead-letter stream and acknowledges it, so the messages after it keep flowing.
    """

    def __init__(
        self,
        *,
        name: str,
        subject: str,
        handler: Handler | EventHandler,
        db: Database,
        metrics: KitMetrics,
        message: type[Message] | None = None,
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        redeliver_delay: float = 2.0,
    ) -> None:
        self.name = name
        self.subject = subject
        self.message = message
        self._handler = handler
        self._db = db
        self._metrics = metrics
        self._ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.redeliver_delay = redeliver_delay
        self._js = None

    async def run(self, nc: NatsClient) -> None:
        js = nc.jetstream()
        self._js = js
        # The series exists at 0 from the start: Prometheus' increase() sees the first parked event as a rise,
        # which a series first scraped at 1 would not be.
        self._metrics.events_dead_lettered.labels(self.subject)
        # JetStream itself sets no bound (-1): the bound is ours, and only for a handler that fails on the message.
        # A message that failed because the service's own database was away is redelivered until it is back (a
        # server bound would silently stop offering it: a lost receipt after an eight-second database restart), and
        # should parking fail (NATS away) the server still offers the message again.
        config = js_api.ConsumerConfig(
            durable_name=self.name,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            filter_subject=self.subject,
            max_deliver=-1,
        )
        while True:
            try:
                sub = await js.pull_subscribe(self.subject, durable=self.name, stream=STREAM, config=config)
                break
            except Exception as exc:
                log.warning("consumer %s: cannot subscribe yet (%s); retrying", self.name, exc)
                await asyncio.sleep(1)
        measured = float("-inf")
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # nats-py's fetch can swallow a cancellation that races a message (asyncio.wait_for on 3.11), and
                # this loop would then poll forever and hang the service's stop; honour it here.
                raise asyncio.CancelledError
            try:
                msgs = await sub.fetch(batch=20, timeout=1)
            except TimeoutError:
                # Nothing to fetch within the timeout: the normal idle poll, not a failure. nats-py raises its own
                # TimeoutError or asyncio's (the builtin on 3.11) depending on where the wait ran out; this catches
                # both (nats.errors.TimeoutError subclasses it).
                msgs = []
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # disconnected: the client reconnects; keep polling
                log.warning("consumer %s: fetch failed (%s)", self.name, exc.__class__.__name__)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self._handle(msg)
            # Every LAG_EVERY seconds, not every ten fetches: while a consumer works through a backlog each fetch
            # returns at once, and asking the server for the consumer's state (a JSON request and answer) every ten
            # took 9 % of identity's CPU in a profile of the home benchmark taken while identity was catching up.
            if time.monotonic() - measured >= LAG_EVERY:
                measured = time.monotonic()
                await self._measure_lag(sub)

    async def _handle(self, msg) -> None:  # noqa: ANN001 - nats Msg
        headers = dict(msg.headers or {})
        event_id = headers.get(MSG_ID) or f"seq-{msg.metadata.sequence.stream}"
        with tracer.start_as_current_span(
            f"consume {msg.subject}", context=extract_context(headers), kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.system", "nats")
            span.set_attribute("messaging.destination.name", msg.subject)
            span.set_attribute("messaging.message.id", event_id)
            recorded = False
            try:
                async with self._db.unit_of_work() as s:
                    seen = await s.scalar(
                        sa.select(inbox.c.event_id).where(inbox.c.consumer == self.name, inbox.c.event_id == event_id)
                    )
                    if seen is None:
                        await s.execute(
                            sa.insert(inbox).values(consumer=self.name, event_id=event_id, handled_at=datetime.now(UTC))
                        )
                        recorded = True
                        await self._dispatch(s, msg.data, headers, event_id)
                outcome = "handled" if seen is None else "duplicate"
            except Exception as exc:
                if isinstance(exc, IntegrityError) and not recorded:
                    outcome = "duplicate"  # another replica recorded it first
                else:
                    # Including the handler's own IntegrityError: that is a failure to redeliver, not a duplicate.
                    self._metrics.events_consumed.labels(self.name, "failed").inc()
                    deliveries = _deliveries(msg)
                    if _database_away(exc):
                        # Not the message's fault: never parked, redelivered with a growing pause until it is back.
                        log.warning(
                            "consumer %s: database unavailable on event %s (delivery %d); it will be redelivered",
                            self.name,
                            event_id,
                            deliveries,
                        )
                        await _quietly(msg.nak(delay=_pause(self.redeliver_delay, deliveries)))
                        return
                    if deliveries >= self.max_deliver and await self._park(msg, headers, event_id, exc, deliveries):
                        return
                    log.exception(
                        "consumer %s failed on event %s (delivery %d of %d); it will be redelivered",
                        self.name,
                        event_id,
                        deliveries,
                        self.max_deliver,
                    )
                    await _quietly(msg.nak(delay=self.redeliver_delay))
                    return
            self._metrics.events_consumed.labels(self.name, outcome).inc()
            await _quietly(msg.ack())

    async def _park(self, msg, headers: dict[str, str], event_id: str, exc: Exception, deliveries: int) -> bool:  # noqa: ANN001
        """Copy the message to the dead-letter stream and acknowledge it; False when it could not be parked."""
        error = exc.__class__.__name__
        dead_headers = {
            **headers,
            MSG_ID: f"{self.name}:{event_id}",  # parking the same message twice keeps one copy
            DEAD_CONSUMER: self.name,
            DEAD_SUBJECT: msg.subject,
            DEAD_ERROR: error,
            DEAD_DELIVERIES: str(deliveries),
        }
        try:
            if self._js is None:
                raise RuntimeError("the consumer is not running")
            await self._js.publish(
                dead_letter_subject(self.name, msg.subject), msg.data, headers=dead_headers, timeout=2
            )
        except Exception as park_exc:
            log.warning(
                "consumer %s: cannot park event %s on %s (%s); it will be offered again",
                self.name,
                event_id,
                msg.subject,
                park_exc.__class__.__name__,
            )
            return False
        # The subject, the error class and the id; never the payload or the error's text, which may quote it.
        log.error(
            "consumer %s: event %s on %s failed %d times (%s); parked in %s",
            self.name,
            event_id,
            msg.subject,
            deliveries,
            error,
            DEAD_STREAM,
        )
        self._metrics.events_dead_lettered.labels(msg.subject).inc()
        self._metrics.events_consumed.labels(self.name, "dead_lettered").inc()
        await _quietly(msg.ack())
        return True

    async def _dispatch(self, s: AsyncSession, data: bytes, headers: dict[str, str], event_id: str) -> None:
        if self.message is None:
            await self._handler(s, data, headers)  # type: ignore[arg-type]
            return
        try:
            event = self.message.FromString(data)
        except DecodeError:
            log.warning(
                "consumer %s: event %s is not a %s message; skipped", self.name, event_id, self.message.__name__
            )
            return
        await self._handler(s, event, event_id)  # type: ignore[arg-type]

    async def _measure_lag(self, sub) -> None:  # noqa: ANN001
        try:
            info = await sub.consumer_info()
            self._metrics.consumer_lag.labels(self.name).set(info.num_pending + info.num_ack_pending)
        except Exception:  # noqa: S110 - the gauge simply keeps its last value while NATS is away
            pass


def _database_away(exc: BaseException) -> bool:
    """Whether the failure is the service's database being unreachable (down, restarting, connection lost), by the
    exception or anything in its cause chain: the unit of work turns those into Unavailable."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Unavailable):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _pause(base: float, deliveries: int) -> float:
    """Redelivery pause while the database is away: doubling from `base`, at most 30 s."""
    return min(base * 2 ** min(max(deliveries - 1, 0), 5), 30.0)


def _deliveries(msg) -> int:  # noqa: ANN001 - nats Msg
    """How many times JetStream has delivered `msg`, this one included (1 when it does not say)."""
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 1


async def _quietly(aw: Awaitable) -> None:
    """Ack/nak while NATS is away fails; the message is then redelivered and the inbox absorbs it."""
    try:
        await aw
    except Exception as exc:
        log.info("ack not delivered (%s); the inbox will absorb the redelivery", exc.__class__.__name__)
