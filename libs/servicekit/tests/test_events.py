"""Outbox → JetStream → consumer with a real nats-server and real databases (SQLite and PostgreSQL)."""

import asyncio

import pytest
import sqlalchemy as sa
from nats.errors import TimeoutError as NatsTimeoutError

from portal.tickets.v1 import events_pb2
from portal_local.nats import NatsServer
from servicekit import events
from servicekit.db import Database
from servicekit.metrics import kit_metrics
from servicekit.outbox_tables import kit_metadata, outbox

SUBJECT = events.subject("kittest", "ticket_created")


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(kit_metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def nats(tmp_path):
    server = NatsServer(tmp_path / "store").start()
    yield server
    server.stop()


async def _write(db: Database, n: int) -> list[str]:
    ids = []
    for i in range(n):
        async with db.unit_of_work() as s:
            ids.append(await events.add_event(s, SUBJECT, events_pb2.TicketCreated(number=i, subject=f"t{i}")))
    return ids


async def _wait_for(predicate, limit: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_events_survive_a_nats_outage_and_are_handled_exactly_once(db, nats):
    metrics = kit_metrics("kittest")
    nc = await events.connect(nats.url, "kittest")
    await events.ensure_stream(nc)
    relay = events.OutboxRelay(db, nc, metrics)
    handled: list[int] = []
    fail_once = {"armed": True}

    async def handler(session, data, headers):
        msg = events_pb2.TicketCreated.FromString(data)
        if msg.number == 3 and fail_once["armed"]:
            fail_once["armed"] = False
            raise RuntimeError("boom: the first delivery of #3 fails and must be redelivered")
        handled.append(msg.number)

    consumer = events.Consumer(name="kittest-c", subject=SUBJECT, handler=handler, db=db, metrics=metrics)
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run(nc))]
    try:
        ids = await _write(db, 5)
        await _wait_for(lambda: len(handled) == 5)

        nats.stop()
        more = await _write(db, 5)
        await asyncio.sleep(1.0)
        async with db.sessions() as s:
            unsent = await s.scalar(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))
        assert unsent >= 1, "with NATS down the events wait in the outbox"
        nats.start()
        await _wait_for(lambda: len(handled) == 10, limit=40)

        # A relay retry publishes the same event ids again: JetStream and the inbox absorb them.
        async with db.unit_of_work() as s:
            await s.execute(sa.update(outbox).values(sent_at=None))
        await relay.publish_pending()
        await asyncio.sleep(1.5)
        assert sorted(handled) == sorted(list(range(5)) * 2), handled
        assert len(ids + more) == 10
        assert metrics.events_consumed.labels("kittest-c", "handled")._value.get() >= 10
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()


async def test_published_message_carries_event_id_and_trace_context(db, nats):
    from opentelemetry import trace

    from servicekit.telemetry import setup_tracing

    setup_tracing("kittest")
    nc = await events.connect(nats.url, "kittest")
    await events.ensure_stream(nc)
    js = nc.jetstream()
    sub = await js.pull_subscribe(SUBJECT, durable="kittest-peek", stream=events.STREAM)
    with trace.get_tracer("t").start_as_current_span("rpc") as span:
        [event_id] = await _write(db, 1)
        trace_id = format(span.get_span_context().trace_id, "032x")
    await events.OutboxRelay(db, nc, kit_metrics("kittest")).publish_pending()
    [msg] = await sub.fetch(1, timeout=5)
    assert msg.headers["Nats-Msg-Id"] == event_id
    assert trace_id in msg.headers["traceparent"]
    body = events_pb2.TicketCreated.FromString(msg.data)
    assert body.meta.event_id == event_id and body.meta.occurred_at.seconds > 0
    await msg.ack()
    await nc.close()


async def test_an_integrity_error_in_the_handler_is_redelivered_not_taken_for_a_duplicate(db):
    class Msg:
        subject = SUBJECT
        data = b""
        headers = {events.MSG_ID: "evt-1"}
        outcome: list[str] = []

        async def ack(self):
            Msg.outcome.append("ack")

        async def nak(self, delay=0):
            Msg.outcome.append("nak")

    async def handler(session, data, headers):
        # The handler's own constraint fails (e.g. a row it references is not there yet).
        await session.execute(sa.insert(outbox).values(id="x", subject="s", payload=b"", headers={}, created_at=None))

    consumer = events.Consumer(
        name="kittest-ie", subject=SUBJECT, handler=handler, db=db, metrics=kit_metrics("kittest")
    )
    await consumer._handle(Msg())
    assert Msg.outcome == ["nak"]
    async with db.sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(outbox)) == 0


async def test_a_cancellation_the_nats_fetch_swallows_still_stops_the_consumer() -> None:
    """nats-py's fetch (asyncio.wait_for on 3.11) can lose a cancellation that races a message; the consumer must
    stop anyway, or the service's stop waits for it forever."""

    class Swallowing:
        swallowed = False

        async def fetch(self, batch: int, timeout: float) -> list:  # noqa: ASYNC109 - nats-py's signature
            try:
                await asyncio.sleep(timeout)
            except asyncio.CancelledError:
                if self.swallowed:
                    raise
                self.swallowed = True  # what the race does: the cancellation is gone, the fetch answers normally
            return []

    class Js:
        async def pull_subscribe(self, *args: object, **kwargs: object) -> Swallowing:
            return Swallowing()

    class Nc:
        def jetstream(self) -> Js:
            return Js()

    async def handler(session, data, headers) -> None:  # noqa: ANN001
        raise AssertionError("no message arrives")

    consumer = events.Consumer(
        name="kit-swallow",
        subject=SUBJECT,
        handler=handler,
        db=None,
        metrics=kit_metrics("kittest"),  # type: ignore[arg-type]
    )
    task = asyncio.create_task(consumer.run(Nc()))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=3)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert done and task.cancelled()


async def test_an_empty_fetch_is_an_idle_poll_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    """nats-py answers an empty pull with asyncio's TimeoutError (the builtin on 3.11) from one code path and with
    nats.errors.TimeoutError from another; neither is a failure. The idle stack used to log ~10 "fetch failed
    (TimeoutError)" warnings a minute from the first."""

    class Empty:
        fetches = 0

        async def fetch(self, batch: int, timeout: float) -> list:  # noqa: ASYNC109 - nats-py's signature
            self.fetches += 1
            await asyncio.sleep(0)
            raise (TimeoutError if self.fetches % 2 else NatsTimeoutError)()

    sub = Empty()

    class Js:
        async def pull_subscribe(self, *args: object, **kwargs: object) -> Empty:
            return sub

    class Nc:
        def jetstream(self) -> Js:
            return Js()

    async def handler(session, data, headers) -> None:  # noqa: ANN001
        raise AssertionError("no message arrives")

    consumer = events.Consumer(
        name="kit-idle", subject=SUBJECT, handler=handler, db=None, metrics=kit_metrics("kittest")
    )  # type: ignore[arg-type]
    consumer._measure_lag = _no_lag  # type: ignore[method-assign]
    with caplog.at_level("WARNING", logger=events.log.name):
        task = asyncio.create_task(consumer.run(Nc()))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # A failed fetch waits 0.5 s before the next: many polls in 0.3 s means none was taken for a failure.
    assert sub.fetches > 20
    assert not [r for r in caplog.records if "fetch failed" in r.getMessage()]


async def _no_lag(sub: object) -> None:
    return None


class _Delivered:
    """A stand-in for a nats Msg: what Consumer._handle reads and how it acks."""

    subject = SUBJECT

    def __init__(self, data: bytes, event_id: str) -> None:
        self.data = data
        self.headers = {events.MSG_ID: event_id}
        self.outcome: list[str] = []

    async def ack(self) -> None:
        self.outcome.append("ack")

    async def nak(self, delay: float = 0) -> None:
        self.outcome.append("nak")


async def test_a_consumer_of_a_message_type_decodes_it_and_skips_what_does_not_decode(db):
    got: list[tuple[int, str]] = []

    async def handler(session, event: events_pb2.TicketCreated, event_id: str) -> None:
        got.append((event.number, event_id))

    consumer = events.Consumer(
        name="kittest-typed",
        subject=SUBJECT,
        message=events_pb2.TicketCreated,
        handler=handler,
        db=db,
        metrics=kit_metrics("kittest"),
    )
    good = _Delivered(events_pb2.TicketCreated(number=7).SerializeToString(), "evt-good")
    garbled = _Delivered(b"\xff not protobuf", "evt-garbled")
    await consumer._handle(good)
    await consumer._handle(garbled)
    assert got == [(7, "evt-good")]
    # The garbled one would fail on every redelivery: acknowledged and recorded, never retried.
    assert good.outcome == garbled.outcome == ["ack"]
    again = _Delivered(b"\xff not protobuf", "evt-garbled")
    await consumer._handle(again)
    assert again.outcome == ["ack"] and got == [(7, "evt-good")]
