"""Identity's customer settings are the one source of a customer's tax rate, tax-free flag and terms (SPEC C3, B9):
its customer_updated events, through a real nats-server's JetStream, set what billing's invoices use. A replay
changes nothing, an older event after a newer one is ignored, unset fields mean billing's defaults, and
customer_deleted drops the settings. SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from billing.customers.models import CustomerBilling
from billing.customers.service import apply_identity_settings
from billing.events import handlers as events
from billing.main import NAME
from portal.common.v1 import common_pb2
from portal.identity.v1 import events_pb2 as identity_events_pb2
from servicekit import events as kit_events
from servicekit.db import Database
from servicekit.metrics import kit_metrics

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def updated(customer_id: str, at: datetime, **settings: object) -> tuple[str, bytes]:
    """A CustomerUpdated as identity's outbox writes it: event id, time and customer in meta."""
    event_id = str(uuid.uuid4())
    when = Timestamp()
    when.FromDatetime(at)
    msg = identity_events_pb2.CustomerUpdated(
        meta=common_pb2.EventMeta(event_id=event_id, occurred_at=when, customer_id=customer_id),
        customer_id=customer_id,
        display_name="Ledger Ltd",
        **settings,
    )
    return event_id, msg.SerializeToString()


def deleted(customer_id: str) -> tuple[str, bytes]:
    event_id = str(uuid.uuid4())
    when = Timestamp()
    when.GetCurrentTime()
    meta = common_pb2.EventMeta(event_id=event_id, occurred_at=when, customer_id=customer_id)
    return event_id, identity_events_pb2.CustomerDeleted(meta=meta, customer_id=customer_id).SerializeToString()


async def until(check: Callable, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("the condition was not met in time")
        await asyncio.sleep(0.1)


def consumed(name: str, outcome: str) -> float:
    return kit_metrics(NAME).events_consumed.labels(name, outcome)._value.get()


async def row(db: Database, customer_id: str) -> tuple | None:
    async with db.unit_of_work() as s:
        r = await s.get(CustomerBilling, customer_id)
        return None if r is None else (r.tax_rate_bp, r.tax_free, r.terms_days, r.settings_at, r.updated_at)


def test_billing_consumes_identitys_customer_updated_and_deleted_durably() -> None:
    found = {
        (c.name, c.subject, c.message, c._handler)
        for c in events.consumers(db=None, metrics=kit_metrics(NAME))  # type: ignore[arg-type]
    }
    assert found == {
        (
            "billing-customer-updated",
            "portal.identity.customer_updated.v1",
            identity_events_pb2.CustomerUpdated,
            events.on_customer_updated,
        ),
        (
            "billing-customer-deleted",
            "portal.identity.customer_deleted.v1",
            identity_events_pb2.CustomerDeleted,
            events.on_customer_deleted,
        ),
    }


async def test_identitys_events_set_the_settings_once_in_order_and_defaults_when_unset(db, nats_server) -> None:  # noqa: ANN001
    a, b, marker = (f"cust-{uuid.uuid4().hex[:8]}" for _ in range(3))
    nc = await kit_events.connect(nats_server.url, "billing-settings-test")
    js = nc.jetstream()
    # Durables of their own: the stream is shared by the session's tests, and a fresh durable reads it from the start.
    suffix = uuid.uuid4().hex[:8]
    handlers = {
        events.CUSTOMER_UPDATED: (identity_events_pb2.CustomerUpdated, events.on_customer_updated),
        events.CUSTOMER_DELETED: (identity_events_pb2.CustomerDeleted, events.on_customer_deleted),
    }
    names = {subj: f"billing-test-{subj.split('.')[2]}-{suffix}" for subj in handlers}
    upd = names[events.CUSTOMER_UPDATED]

    async def publish(subj: str, event: tuple[str, bytes]) -> None:
        await js.publish(subj, event[1], headers={kit_events.MSG_ID: event[0]}, timeout=5)

    def start() -> list[asyncio.Task]:
        return [
            asyncio.create_task(
                kit_events.Consumer(
                    name=names[subj], subject=subj, message=message, handler=handler, db=db, metrics=kit_metrics(NAME)
                ).run(nc)
            )
            for subj, (message, handler) in handlers.items()
        ]

    async def stop(tasks: list[asyncio.Task]) -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def applied(customer_id: str, *values: object) -> None:
        async def check() -> bool:
            got = await row(db, customer_id)
            return got is not None and got[:3] == values

        await until(check)

    await kit_events.ensure_stream(nc)
    tasks = start()
    try:
        # 8.25 % and 14-day terms, then a garbled message that would fail forever (skipped, not retried).
        await publish(events.CUSTOMER_UPDATED, updated(a, T0, tax_rate_bp=825, invoice_terms_days=14))
        await publish(events.CUSTOMER_UPDATED, (str(uuid.uuid4()), b"\xff not protobuf"))
        await applied(a, 825, False, 14)
        first = await row(db, a)
        assert first[3] == T0

        # An event older than the one applied (delivered late, or after a redelivery) is ignored; the marker
        # customer's event comes after it in the stream, so once the marker is applied the older one was handled.
        await publish(events.CUSTOMER_UPDATED, updated(a, T0 - timedelta(seconds=1), tax_rate_bp=2_000))
        await publish(events.CUSTOMER_UPDATED, updated(marker, T0, tax_rate_bp=500))
        await applied(marker, 500, False, 30)
        assert await row(db, a) == first

        # Unset rate and terms are billing's defaults (no tax, 30 days), not "unchanged".
        await publish(events.CUSTOMER_UPDATED, updated(a, T0 + timedelta(minutes=1), tax_free=True))
        await applied(a, 0, True, 30)
        newest = await row(db, a)

        # The same customer elsewhere: deleted in identity, its settings go.
        await publish(events.CUSTOMER_UPDATED, updated(b, T0, tax_rate_bp=1_000, invoice_terms_days=7))
        await applied(b, 1_000, False, 7)
        await publish(events.CUSTOMER_DELETED, deleted(b))

        async def gone() -> bool:
            return await row(db, b) is None

        await until(gone)

        # A real redelivery (a new delivery of the whole stream) is absorbed by the inbox: nothing changes.
        await stop(tasks)
        for name in names.values():
            await js.delete_consumer(kit_events.STREAM, name)
        duplicates = consumed(upd, "duplicate")
        tasks = start()

        async def replayed() -> bool:
            return consumed(upd, "duplicate") >= duplicates + 6

        await until(replayed)
        assert consumed(upd, "failed") == 0
        assert await row(db, a) == newest
        assert await row(db, b) is None
    finally:
        await stop(tasks)
        await nc.close()


async def test_equal_times_apply_and_out_of_bounds_values_are_ignored(db) -> None:  # noqa: ANN001
    async def apply(at: datetime, **values: object) -> bool:
        settings: dict = {"tax_rate_bp": None, "tax_free": False, "terms_days": None, **values}
        async with db.unit_of_work() as s:
            return await apply_identity_settings(s, customer_id="cust-c", occurred_at=at, **settings)

    assert await apply(T0, tax_rate_bp=825)
    assert await apply(T0, tax_rate_bp=900), "two changes within one microsecond: the last handled wins"
    assert not await apply(T0 + timedelta(seconds=1), tax_rate_bp=20_000)
    assert not await apply(T0 + timedelta(seconds=1), terms_days=400)
    assert (await row(db, "cust-c"))[:4] == (900, False, 30, T0)
