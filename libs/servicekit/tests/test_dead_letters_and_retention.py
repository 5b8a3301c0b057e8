"""Dead letters (a real nats-server) and retention of the outbox and inbox (SQLite and PostgreSQL)."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.tickets.v1 import events_pb2
from portal_local.nats import NatsServer
from servicekit import events
from servicekit.db import Database
from servicekit.errors import Unavailable
from servicekit.metrics import kit_metrics
from servicekit.outbox_tables import inbox, kit_metadata, outbox
from servicekit.retention import Retention

SUBJECT = events.subject("kitdead", "ticket_created")
MARKER = "payload-marker-7f3a"  # in the failing event's body: it must never reach a log line


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


async def _write(db: Database, numbers: list[int]) -> None:
    for n in numbers:
        async with db.unit_of_work() as s:
            await events.add_event(s, SUBJECT, events_pb2.TicketCreated(number=n, subject=f"{MARKER}-{n}"))


async def _wait_for(predicate, limit: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


class Poisoned(Exception):
    pass


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_message_that_always_fails_is_delivered_n_times_then_parked_and_the_rest_flow(db, nats, caplog):
    caplog.set_level(logging.INFO)
    metrics = kit_metrics("kitdead")
    nc = await events.connect(nats.url, "kitdead")
    await events.ensure_stream(nc)
    relay = events.OutboxRelay(db, nc, metrics)
    attempts: dict[int, int] = {}
    handled: list[int] = []

    async def handler(session, event: events_pb2.TicketCreated, event_id: str) -> None:
        attempts[event.number] = attempts.get(event.number, 0) + 1
        if event.number == 2:
            raise Poisoned(f"cannot handle {event.subject}")
        handled.append(event.number)

    consumer = events.Consumer(
        name="kitdead-c",
        subject=SUBJECT,
        message=events_pb2.TicketCreated,
        handler=handler,
        db=db,
        metrics=metrics,
        max_deliver=3,
        redeliver_delay=0.2,
    )
    dead_before = metrics.events_dead_lettered.labels(SUBJECT)._value.get()
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run(nc))]
    try:
        await _wait_for(lambda: (SUBJECT,) in metrics.events_dead_lettered._metrics)  # at 0 before any failure
        await _write(db, [1, 2, 3])
        await _wait_for(lambda: metrics.events_dead_lettered.labels(SUBJECT)._value.get() == dead_before + 1)
        await _write(db, [4, 5])
        await _wait_for(lambda: sorted(handled) == [1, 3, 4, 5])
        await asyncio.sleep(1.0)  # time for a (wrong) fourth delivery of #2
        assert attempts == {1: 1, 2: 3, 3: 1, 4: 1, 5: 1}

        # Parked: one copy in the dead-letter stream, with the original body and what happened to it.
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            events.dead_letter_subject("kitdead-c", SUBJECT), durable="kitdead-peek", stream=events.DEAD_STREAM
        )
        parked = await sub.fetch(5, timeout=3)
        assert len(parked) == 1
        [msg] = parked
        assert events_pb2.TicketCreated.FromString(msg.data).number == 2
        assert msg.headers[events.DEAD_CONSUMER] == "kitdead-c"
        assert msg.headers[events.DEAD_SUBJECT] == SUBJECT
        assert msg.headers[events.DEAD_ERROR] == "Poisoned"
        assert msg.headers[events.DEAD_DELIVERIES] == "3"
        # And gone from the consumer: nothing pending, nothing waiting for an ack.
        info = await js.consumer_info(events.STREAM, "kitdead-c")
        assert info.num_pending == 0 and info.num_ack_pending == 0
        assert info.config.max_deliver == -1  # the bound is the consumer's own, for handler failures only

        lines = [r.getMessage() for r in caplog.records if r.name == "servicekit.events" and "parked" in r.getMessage()]
        assert len(lines) == 1 and SUBJECT in lines[0] and "Poisoned" in lines[0], lines
        assert not any(MARKER in r.getMessage() for r in caplog.records)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_message_that_fails_while_the_database_is_away_is_never_parked(db, nats):
    """Failures because the service's own database is unreachable are not the message's fault: more of them than
    max_deliver still end in the message handled once the database is back, and nothing is dead-lettered."""
    metrics = kit_metrics("kitaway")
    nc = await events.connect(nats.url, "kitaway")
    await events.ensure_stream(nc)
    relay = events.OutboxRelay(db, nc, metrics)
    attempts: list[int] = []
    handled: list[int] = []

    async def handler(session, event: events_pb2.TicketCreated, event_id: str) -> None:
        attempts.append(event.number)
        if len(attempts) <= 5:  # the database is away for the first five deliveries
            raise Unavailable("the database is unreachable; retry") from OSError("connection refused")
        handled.append(event.number)

    consumer = events.Consumer(
        name="kitaway-c",
        subject=SUBJECT,
        message=events_pb2.TicketCreated,
        handler=handler,
        db=db,
        metrics=metrics,
        max_deliver=3,
        redeliver_delay=0.05,
    )
    dead_before = metrics.events_dead_lettered.labels(SUBJECT)._value.get()
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run(nc))]
    try:
        await _write(db, [7])
        await _wait_for(lambda: handled == [7])
        assert len(attempts) == 6
        assert metrics.events_dead_lettered.labels(SUBJECT)._value.get() == dead_before
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()


async def test_retention_prunes_old_rows_in_batches_and_keeps_recent_ones(db):
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=10), now - timedelta(hours=1)
    async with db.unit_of_work() as s:
        rows = []
        for i in range(7):  # published long ago: pruned
            rows.append({"id": f"old-{i}", "sent_at": old, "created_at": old})
        rows.append({"id": "recent", "sent_at": recent, "created_at": recent})  # published an hour ago: kept
        rows.append({"id": "unsent", "sent_at": None, "created_at": old})  # never published: kept whatever its age
        await s.execute(sa.insert(outbox), [{**r, "subject": SUBJECT, "payload": b"", "headers": {}} for r in rows])
        await s.execute(
            sa.insert(inbox),
            [{"consumer": "c", "event_id": f"old-{i}", "handled_at": old} for i in range(5)]
            + [{"consumer": "c", "event_id": "recent", "handled_at": now - timedelta(days=6)}],
        )
    metrics = kit_metrics("kitretention")
    before = metrics.retention_pruned.labels("outbox")._value.get()
    pruner = Retention(db=db, metrics=metrics, outbox_keep=timedelta(days=1), inbox_keep=timedelta(days=7), batch=3)
    assert await pruner.prune_once() == (7, 5)
    assert metrics.retention_pruned.labels("outbox")._value.get() == before + 7
    async with db.sessions() as s:
        assert set(await s.scalars(sa.select(outbox.c.id))) == {"recent", "unsent"}
        assert set(await s.scalars(sa.select(inbox.c.event_id))) == {"recent"}
    assert await pruner.prune_once() == (0, 0)


async def test_dedup_still_holds_inside_the_window_after_a_prune(db):
    """An event handled 6 days ago (inside the 7-day window) and redelivered after a prune is still a duplicate."""
    handled: list[str] = []

    async def handler(session, event: events_pb2.TicketCreated, event_id: str) -> None:
        handled.append(event_id)

    metrics = kit_metrics("kitretention")
    consumer = events.Consumer(
        name="kitret-c", subject=SUBJECT, message=events_pb2.TicketCreated, handler=handler, db=db, metrics=metrics
    )

    class Delivered:
        subject = SUBJECT

        def __init__(self, event_id: str) -> None:
            self.data = events_pb2.TicketCreated(number=1).SerializeToString()
            self.headers = {events.MSG_ID: event_id}

        async def ack(self) -> None:
            pass

        async def nak(self, delay: float = 0) -> None:
            raise AssertionError("no failure here")

    await consumer._handle(Delivered("evt-inside"))
    await consumer._handle(Delivered("evt-outside"))
    assert handled == ["evt-inside", "evt-outside"]
    now = datetime.now(UTC)
    async with db.unit_of_work() as s:
        for event_id, age in (("evt-inside", timedelta(days=6)), ("evt-outside", timedelta(days=8))):
            await s.execute(sa.update(inbox).where(inbox.c.event_id == event_id).values(handled_at=now - age))
    assert await Retention(db=db, metrics=metrics).prune_once() == (0, 1)
    await consumer._handle(Delivered("evt-inside"))
    assert handled == ["evt-inside", "evt-outside"], "still deduplicated inside the window"
    await consumer._handle(Delivered("evt-outside"))
    assert handled == ["evt-inside", "evt-outside", "evt-outside"], "past the window the id is forgotten"
