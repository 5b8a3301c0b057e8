"""The invoiced marker (T1): billing's invoice_created events, through a real nats-server's JetStream, mark the
ticket they name — only a ticket of the invoice's own customer, and a replay changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from portal.billing.v1 import events_pb2 as billing_events_pb2
from portal.common.v1 import common_pb2
from portal.tickets.v1 import tickets_pb2
from servicekit import events as kit_events
from servicekit.metrics import kit_metrics
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.events import handlers
from tickets.main import NAME

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


def invoice_created(*, customer_id: str, ticket_id: str, number: str) -> tuple[str, bytes]:
    """An InvoiceCreated as billing's outbox writes it: event id, time and customer in meta."""
    event_id = str(uuid.uuid4())
    at = Timestamp()
    at.GetCurrentTime()
    msg = billing_events_pb2.InvoiceCreated(
        meta=common_pb2.EventMeta(event_id=event_id, occurred_at=at, customer_id=customer_id),
        invoice_id=str(uuid.uuid4()),
        number=number,
        ticket_id=ticket_id,
        total=common_pb2.Money(amount_minor=12_500, currency="USD"),
    )
    return event_id, msg.SerializeToString()


async def publish(js, event_id: str, data: bytes) -> None:  # noqa: ANN001
    await js.publish(handlers.INVOICE_CREATED, data, headers={kit_events.MSG_ID: event_id}, timeout=5)


async def until(check: Callable, within: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("the condition was not met in time")
        await asyncio.sleep(0.1)


def consumed(name: str, outcome: str) -> float:
    return kit_metrics(NAME).events_consumed.labels(name, outcome)._value.get()


def test_the_service_consumes_billings_invoice_created_durably() -> None:
    consumer, *_remote = handlers.consumers(db=None, metrics=kit_metrics(NAME))  # type: ignore[arg-type]
    assert (consumer.name, consumer.subject) == ("tickets-invoice-created", "portal.billing.invoice_created.v1")
    assert consumer._handler is handlers.on_invoice_created
    assert consumer.message is billing_events_pb2.InvoiceCreated


async def test_invoice_events_mark_the_customers_ticket_only_and_replays_change_nothing(
    served,
    principals,
    nats_server,  # noqa: ANN001
) -> None:
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    carol = served.keys.metadata(principals.portal("cust-b", "contact-b", permissions=ALL))
    billed = await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Billed", description="d"), metadata=alice)
    other = await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Not billed", description="d"), metadata=alice)
    billed, other = billed.ticket, other.ticket
    carols = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="B", description="d"), metadata=carol)
    ).ticket

    async def get(ticket_id: str, md) -> tickets_pb2.Ticket:  # noqa: ANN001
        return (await s.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=ticket_id), metadata=md)).ticket

    nc = await kit_events.connect(nats_server.url, "tickets-invoiced-test")
    # A durable of its own: the stream is shared by the session's tests, and a fresh durable reads it from the start.
    name = f"tickets-invoice-created-{uuid.uuid4().hex[:8]}"
    js = nc.jetstream()

    def start() -> asyncio.Task:
        consumer = kit_events.Consumer(
            name=name,
            subject=handlers.INVOICE_CREATED,
            message=billing_events_pb2.InvoiceCreated,
            handler=handlers.on_invoice_created,
            db=served.db,
            metrics=kit_metrics(NAME),
        )
        return asyncio.create_task(consumer.run(nc))

    task = start()
    try:
        await kit_events.ensure_stream(nc)
        # Billing's invoice for customer B naming A's ticket (a mistake or a probe): ignored, nothing leaks.
        foreign_id, foreign = invoice_created(customer_id="cust-b", ticket_id=billed.id, number="INV-666")
        await publish(js, foreign_id, foreign)
        event_id, data = invoice_created(customer_id="cust-a", ticket_id=billed.id, number="INV-1001")
        await publish(js, event_id, data)
        # An invoice with no ticket, and one naming a ticket that does not exist: nothing to do, nothing to retry.
        for ticket_id in ("", str(uuid.uuid4()), "not-a-uuid"):
            await publish(js, *invoice_created(customer_id="cust-a", ticket_id=ticket_id, number="INV-7"))

        async def marked() -> bool:
            return (await get(billed.id, alice)).invoice_number == "INV-1001"

        await until(marked)
        t = await get(billed.id, alice)
        assert t.invoice_id and t.invoice_number == "INV-1001"
        assert (await get(other.id, alice)).invoice_number == ""
        assert (await get(carols.id, carol)).invoice_number == ""
        listed = (await s.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=alice)).tickets
        assert {x.id: x.invoice_number for x in listed} == {billed.id: "INV-1001", other.id: ""}

        # The same event again within the duplicate window is dropped by JetStream itself...
        await publish(js, event_id, data)
        # ...and a real redelivery (a new delivery of the whole stream: our five events) is absorbed by the inbox.
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await js.delete_consumer(kit_events.STREAM, name)
        duplicates = consumed(name, "duplicate")
        task = start()

        async def replayed() -> bool:
            return consumed(name, "duplicate") >= duplicates + 5

        await until(replayed)
        assert consumed(name, "failed") == 0
        assert (await get(billed.id, alice)).invoice_number == "INV-1001"
        assert (await get(billed.id, alice)).updated_at == t.updated_at
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
