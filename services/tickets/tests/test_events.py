"""ticket_created travels from the outbox through the real relay to a real nats-server's JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid

import nats
import pytest
import sqlalchemy as sa

from portal.tickets.v1 import events_pb2, tickets_pb2
from servicekit import events as kit_events
from servicekit.metrics import kit_metrics
from servicekit.outbox_tables import outbox
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.events.publish import TICKET_CREATED
from tickets.main import NAME


async def test_relay_publishes_ticket_created_with_the_event_id_as_msg_id(served, principals, nats_server) -> None:  # noqa: ANN001
    nc = await kit_events.connect(nats_server.url, "tickets-test")
    try:
        await kit_events.ensure_stream(nc)
        relay = kit_events.OutboxRelay(served.db, nc, kit_metrics(NAME))
        relay_task = asyncio.create_task(relay.run())
        try:
            user = principals.portal("cust-a", "contact-a", permissions={TICKETS_CREATE, TICKETS_VIEW_ALL})
            md = served.keys.metadata(user)
            made = [
                (
                    await served.stub.CreateTicket(
                        tickets_pb2.CreateTicketRequest(subject=f"Event {i}", description="d"), metadata=md
                    )
                ).ticket
                for i in range(3)
            ]
            received = await receive(nc, {t.id for t in made})
            # The relay marks rows sent just after JetStream acknowledged them, which may be after delivery.
            rows = await wait_all_sent(served.db)
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
        assert len(rows) == 3
        for t in made:
            msg = received[t.id]
            event = events_pb2.TicketCreated.FromString(msg.data)
            assert msg.subject == TICKET_CREATED
            assert msg.headers["Nats-Msg-Id"] == event.meta.event_id
            assert event.meta.event_id in rows and rows[event.meta.event_id].sent_at is not None
            assert (event.number, event.customer_id, event.contact_id, event.subject, event.created_by) == (
                t.number,
                "cust-a",
                "contact-a",
                t.subject,
                "user-contact-a",
            )
    finally:
        await nc.close()


async def wait_all_sent(db, within: float = 10.0) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + within
    while True:
        async with db.unit_of_work() as s:
            rows = {r.id: r for r in (await s.execute(sa.select(outbox))).all()}
        if all(r.sent_at is not None for r in rows.values()) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def receive(nc: nats.NATS, ticket_ids: set[str], within: float = 15.0) -> dict:
    """The messages for `ticket_ids` from a fresh durable consumer (other tests share the stream)."""
    js = nc.jetstream()
    durable = f"test-{uuid.uuid4().hex[:12]}"
    sub = await js.pull_subscribe(TICKET_CREATED, durable=durable, stream=kit_events.STREAM)
    found: dict = {}
    duplicates = 0
    deadline = time.monotonic() + within
    while set(found) != ticket_ids:
        if time.monotonic() > deadline:
            pytest.fail(f"received {len(found)} of {len(ticket_ids)} ticket_created events")
        try:
            msgs = await sub.fetch(batch=50, timeout=1)
        except nats.errors.TimeoutError:
            continue
        for msg in msgs:
            await msg.ack()
            ticket_id = events_pb2.TicketCreated.FromString(msg.data).ticket_id
            if ticket_id in ticket_ids:
                duplicates += ticket_id in found
                found[ticket_id] = msg
    assert duplicates == 0
    await sub.unsubscribe()
    await js.delete_consumer(kit_events.STREAM, durable)
    return found
