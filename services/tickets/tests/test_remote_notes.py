"""The remote service's records on tickets (issue 14): script_run_finished, remote_session_ended, access_requested
and access_decided events, through a real nats-server's JetStream, each become one public comment by "Remote
actions" on the ticket they name — only a ticket of the event's own customer, and a replay adds nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from portal.common.v1 import common_pb2
from portal.remote.v1 import events_pb2 as remote_events_pb2
from portal.tickets.v1 import events_pb2 as tickets_events_pb2
from portal.tickets.v1 import tickets_pb2
from servicekit import events as kit_events
from servicekit.metrics import kit_metrics
from servicekit.outbox_tables import outbox
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.events import handlers, remote_notes
from tickets.events.publish import TICKET_CREATED
from tickets.main import NAME

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


def ts(text: str) -> Timestamp:
    at = Timestamp()
    at.FromDatetime(datetime.fromisoformat(text).replace(tzinfo=UTC))
    return at


def meta(customer_id: str) -> common_pb2.EventMeta:
    at = Timestamp()
    at.GetCurrentTime()
    return common_pb2.EventMeta(event_id=str(uuid.uuid4()), occurred_at=at, customer_id=customer_id)


def run_finished(customer_id: str, ticket_id: str, **kw) -> remote_events_pb2.ScriptRunFinished:  # noqa: ANN003
    values = {
        "script_run_id": str(uuid.uuid4()),
        "asset_id": "asset-1",
        "exit_code": 0,
        "script_name": "Check disk space",
        "status": "succeeded",
        "requested_by": "Alice Moreno",
        "started_at": ts("2026-12-04T10:00:00"),
        "finished_at": ts("2026-12-04T10:00:03"),
        "output_tail": "Filesystem Size Used\n/dev/sda1 100G 42G\n",
    }
    values.update(kw)
    return remote_events_pb2.ScriptRunFinished(meta=meta(customer_id), ticket_id=ticket_id, **values)


def session_ended(customer_id: str, ticket_id: str) -> remote_events_pb2.RemoteSessionEnded:
    return remote_events_pb2.RemoteSessionEnded(
        meta=meta(customer_id),
        session_id=str(uuid.uuid4()),
        asset_id="asset-1",
        ticket_id=ticket_id,
        opened_by_kind="staff",
        opened_by="Terry Technician",
        started_at=ts("2026-12-04T11:00:00"),
        ended_at=ts("2026-12-04T11:04:12"),
        end_reason="limit",
        bytes_to_device=1234,
        bytes_from_device=56789,
    )


def access_requested(customer_id: str, ticket_id: str) -> remote_events_pb2.AccessRequested:
    return remote_events_pb2.AccessRequested(
        meta=meta(customer_id),
        request_id=str(uuid.uuid4()),
        asset_id="asset-1",
        ticket_id=ticket_id,
        requested_by="Terry Technician",
        reason="Check the printer driver",
        window_minutes=30,
        asset_name="Front desk PC",
    )


def access_decided(customer_id: str, ticket_id: str, approved: bool) -> remote_events_pb2.AccessDecided:
    return remote_events_pb2.AccessDecided(
        meta=meta(customer_id),
        request_id=str(uuid.uuid4()),
        asset_id="asset-1",
        ticket_id=ticket_id,
        approved=approved,
        decided_by="Alice Moreno",
        window_ends_at=ts("2026-12-04T12:30:00") if approved else None,
    )


SUBJECTS = {
    remote_events_pb2.ScriptRunFinished: handlers.SCRIPT_RUN_FINISHED,
    remote_events_pb2.RemoteSessionEnded: handlers.REMOTE_SESSION_ENDED,
    remote_events_pb2.AccessRequested: handlers.ACCESS_REQUESTED,
    remote_events_pb2.AccessDecided: handlers.ACCESS_DECIDED,
}


async def publish(js, event, msg_id: str = "") -> None:  # noqa: ANN001
    await js.publish(
        SUBJECTS[type(event)],
        event.SerializeToString(),
        headers={kit_events.MSG_ID: msg_id or event.meta.event_id},
        timeout=5,
    )


async def until(check: Callable, within: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("the condition was not met in time")
        await asyncio.sleep(0.1)


def consumed(name: str, outcome: str) -> float:
    return kit_metrics(NAME).events_consumed.labels(name, outcome)._value.get()


def test_the_service_consumes_remotes_four_records_durably() -> None:
    by_subject = {c.subject: c for c in handlers.consumers(db=None, metrics=kit_metrics(NAME))}  # type: ignore[arg-type]
    assert {
        "portal.remote.script_run_finished.v1",
        "portal.remote.remote_session_ended.v1",
        "portal.remote.access_requested.v1",
        "portal.remote.access_decided.v1",
    } <= set(by_subject)
    assert by_subject["portal.remote.access_decided.v1"].message is remote_events_pb2.AccessDecided
    assert len({c.name for c in by_subject.values()}) == len(by_subject)


def test_the_texts_say_who_what_when_and_keep_output_inside_its_block() -> None:
    run = run_finished(
        "c",
        "t",
        status="timed_out",
        exit_code=-9,
        error="killed at the time limit",
        output_tail="\x1b[31mred\x1b[0m line\r\nnext ``` not a fence end\x07\n",
    )
    text = remote_notes.script_run(run)
    assert text.startswith('Script "Check disk space" run by Alice Moreno: timed out, exit code -9.')
    assert "Device (asset) id: asset-1" in text
    assert "Started 2026-12-04 10:00:00 UTC, ended 2026-12-04 10:00:03 UTC." in text
    assert "Error: killed at the time limit" in text
    # Terminal escapes and control characters are gone; the fence is longer than any backtick run inside.
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert text.endswith("````\nred line\nnext ``` not a fence end\n````")
    assert "No output." in remote_notes.script_run(run_finished("c", "t", output_tail=""))

    audit = remote_notes.session_ended(session_ended("c", "t"))
    assert audit.startswith("Remote session by Terry Technician (staff).")
    assert "Device (asset) id: asset-1" in audit
    assert "ended 2026-12-04 11:04:12 UTC (duration 4 min 12 s)" in audit
    assert "Sent to the device: 1,234 bytes; received from it: 56,789 bytes." in audit
    assert "Ended because: its time limit was reached." in audit

    asked = remote_notes.access_requested(access_requested("c", "t"))
    assert asked.startswith(
        'Technician Terry Technician asked for remote access to "Front desk PC" for 30 minutes: '
        "Check the printer driver"
    )
    yes = remote_notes.access_decided(access_decided("c", "t", True))
    assert yes == (
        "Remote access to the device with asset id asset-1 approved by Alice Moreno; "
        "the window ends 2026-12-04 12:30:00 UTC."
    )
    assert remote_notes.access_decided(access_decided("c", "t", False)).endswith("declined by Alice Moreno.")


async def test_remote_records_are_public_comments_on_the_customers_ticket_only_and_replays_add_nothing(
    served,
    principals,
    nats_server,  # noqa: ANN001
) -> None:
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    carol = served.keys.metadata(principals.portal("cust-b", "contact-b", permissions=ALL))
    ticket = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Slow PC", description="d"), metadata=alice)
    ).ticket
    carols = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="B", description="d"), metadata=carol)
    ).ticket

    async def comments(ticket_id: str, md) -> list[tickets_pb2.Comment]:  # noqa: ANN001
        resp = await s.ListComments(tickets_pb2.ListCommentsRequest(ticket_id=ticket_id), metadata=md)
        return list(resp.comments)

    nc = await kit_events.connect(nats_server.url, "tickets-remote-notes-test")
    js = nc.jetstream()
    suffix = uuid.uuid4().hex[:8]
    names = [f"{name}-{suffix}" for name, *_ in handlers.REMOTE_CONSUMERS]

    def start() -> list[asyncio.Task]:
        return [
            asyncio.create_task(
                kit_events.Consumer(
                    name=f"{name}-{suffix}",
                    subject=subj,
                    message=message,
                    handler=handler,
                    db=served.db,
                    metrics=kit_metrics(NAME),
                ).run(nc)
            )
            for name, subj, message, handler in handlers.REMOTE_CONSUMERS
        ]

    async def stop(tasks: list[asyncio.Task]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    tasks = start()
    try:
        await kit_events.ensure_stream(nc)
        # Customer B's events naming A's ticket (a mistake or a probe), and events naming no ticket or a ticket
        # that does not exist: ignored, nothing written, nothing retried.
        await publish(js, run_finished("cust-b", ticket.id))
        await publish(js, access_requested("cust-b", ticket.id))
        for ticket_id in ("", str(uuid.uuid4()), "not-a-uuid"):
            await publish(js, run_finished("cust-a", ticket_id))
        events = [
            run_finished("cust-a", ticket.id),
            access_requested("cust-a", ticket.id),
            access_decided("cust-a", ticket.id, True),
            session_ended("cust-a", ticket.id),
        ]
        for event in events:
            await publish(js, event)

        async def all_four() -> bool:
            return len(await comments(ticket.id, alice)) >= 4

        await until(all_four)
        # The foreign and empty events were handled (not failed) before or alongside A's.
        got = await comments(ticket.id, alice)
        assert len(got) == 4
        assert {c.author_name for c in got} == {"Remote actions"}
        assert all(c.is_public and c.author_kind == "system" for c in got)
        bodies = "\n".join(c.body for c in got)
        assert 'Script "Check disk space" run by Alice Moreno' in bodies
        assert "/dev/sda1 100G 42G" in bodies
        assert 'asked for remote access to "Front desk PC" for 30 minutes' in bodies
        assert "approved by Alice Moreno" in bodies
        assert "bytes; received from it: 56,789 bytes" in bodies
        assert await comments(carols.id, carol) == []
        # Search finds the ticket by a comment's words, as for any public comment.
        found = await s.ListTickets(tickets_pb2.ListTicketsRequest(query="sda1"), metadata=alice)
        assert [t.id for t in found.tickets] == [ticket.id]

        # The same event republished under another message id (not a JetStream duplicate) writes nothing new...
        await publish(js, events[0], msg_id=str(uuid.uuid4()))
        # ...and a real redelivery of the whole stream to fresh durables is absorbed by the inbox.
        await stop(tasks)
        for name in names:
            await js.delete_consumer(kit_events.STREAM, name)
        before = sum(consumed(n, "duplicate") for n in names)
        tasks = start()

        async def replayed() -> bool:
            return sum(consumed(n, "duplicate") for n in names) >= before + 9

        await until(replayed)
        assert sum(consumed(n, "failed") for n in names) == 0
        assert len(await comments(ticket.id, alice)) == 4
    finally:
        await stop(tasks)
        await nc.close()


async def test_a_run_on_a_new_ticket_opens_that_ticket_once_for_the_customer_and_the_contact(
    served,
    principals,
    nats_server,  # noqa: ANN001
) -> None:
    """SPEC X2: remote named the new ticket's id; tickets opens it (status New, ticket_created) and notes the run,
    once however often the event arrives; another customer's event naming an existing ticket opens nothing."""
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    carol = served.keys.metadata(principals.portal("cust-b", "contact-b", permissions=ALL))
    carols = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="B", description="d"), metadata=carol)
    ).ticket
    new_id = str(uuid.uuid4())
    event = run_finished(
        "cust-a", new_id, new_ticket=True, contact_id="contact-a", asset_name="Front desk PC", asset_id="asset-9"
    )
    # Customer A's run naming B's existing ticket as its "new" one: no ticket opened, no note written.
    probe = run_finished("cust-a", carols.id, new_ticket=True, contact_id="contact-a")
    # Published last, on B's ticket: once its note is there, every event before it has been handled.
    sentinel = run_finished("cust-b", carols.id)
    name, subj, message, handler = handlers.remote_consumers()[0]
    assert subj == handlers.SCRIPT_RUN_FINISHED
    nc = await kit_events.connect(nats_server.url, "tickets-run-ticket-test")
    js = nc.jetstream()
    consumer = kit_events.Consumer(
        name=f"{name}-{uuid.uuid4().hex[:8]}",
        subject=subj,
        message=message,
        handler=handler,
        db=served.db,
        metrics=kit_metrics(NAME),
    )
    task = asyncio.create_task(consumer.run(nc))

    async def comments(ticket_id: str, md) -> list[tickets_pb2.Comment]:  # noqa: ANN001
        return list((await s.ListComments(tickets_pb2.ListCommentsRequest(ticket_id=ticket_id), metadata=md)).comments)

    try:
        await kit_events.ensure_stream(nc)
        await publish(js, probe)
        await publish(js, event)
        # The same event again under another message id: the inbox does not know it, the ticket and comment ids do.
        await publish(js, event, msg_id=str(uuid.uuid4()))
        await publish(js, sentinel)

        async def sentinel_noted() -> bool:
            return len(await comments(carols.id, carol)) >= 1

        await until(sentinel_noted)
        assert len(await comments(carols.id, carol)) == 1
        ticket = (await s.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=new_id), metadata=alice)).ticket
        assert (ticket.id, ticket.customer_id, ticket.contact_id, ticket.status) == (
            new_id,
            "cust-a",
            "contact-a",
            "New",
        )
        assert ticket.subject == "Check disk space on Front desk PC"
        assert ticket.asset_id == "asset-9" and ticket.contact_name == "Alice Moreno"
        got = await comments(new_id, alice)
        assert len(got) == 1 and 'Script "Check disk space" run by Alice Moreno on "Front desk PC"' in got[0].body
        async with served.db.unit_of_work() as session:
            rows = (await session.execute(select(outbox.c.payload).where(outbox.c.subject == TICKET_CREATED))).all()
        created = [tickets_events_pb2.TicketCreated.FromString(r.payload).ticket_id for r in rows]
        assert created.count(new_id) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
