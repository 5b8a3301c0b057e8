"""The "Remote access requested" email (issue 14, X1): remote's access_requested, published on a real nats-server's
JetStream and consumed by identity's registered consumer, queues one email for each of the customer's portal users
who may see its assets, each in its own language (SPEC H5: Dora French, Alice English), linking to the portal's
/remote-requests; the mailer delivers it to a real SMTP server. Users who may not see assets, disabled ones, another
customer's, and customers that want no email or no report emails get none; a redelivery queues nothing twice.
SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.db import utcnow
from identity.events import handlers
from identity.groups.models import PermissionGroup
from identity.mail.mailer import Mailer, SmtpConfig, SmtpTransport
from identity.mail.models import OutboundEmail
from identity.mail.remote_notifications import TEMPLATE_ACCESS_REQUESTED
from identity.main import NAME
from identity.users.service import create_portal_user
from portal.common.v1 import common_pb2
from portal.remote.v1 import events_pb2
from servicekit import events as kit_events
from servicekit.db import Database
from servicekit.metrics import kit_metrics
from servicekit.permissions import ASSETS_VIEW_MINE, NON_PORTAL_USER_GROUP, TICKETS_VIEW_MINE
from servicekit.principal import Principal

PORTAL_URL = "https://portal.example.test"


def requested(customer_id: str, **kw) -> events_pb2.AccessRequested:  # noqa: ANN003
    at = Timestamp()
    at.GetCurrentTime()
    values = {
        "request_id": str(uuid.uuid4()),
        "asset_id": "asset-1",
        "ticket_id": "ticket-1",
        "requested_by": "Terry Technician",
        "reason": "Check the printer driver",
        "window_minutes": 30,
        "asset_name": "Front desk PC",
    }
    values.update(kw)
    return events_pb2.AccessRequested(
        meta=common_pb2.EventMeta(event_id=str(uuid.uuid4()), occurred_at=at, customer_id=customer_id), **values
    )


async def until(check: Callable, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("the condition was not met in time")
        await asyncio.sleep(0.1)


async def queued(db: Database) -> list[OutboundEmail]:
    async with db.unit_of_work() as s:
        stmt = sa.select(OutboundEmail).where(OutboundEmail.template == TEMPLATE_ACCESS_REQUESTED)
        return list((await s.scalars(stmt.order_by(OutboundEmail.recipient))).all())


def consumed(name: str, outcome: str) -> float:
    return kit_metrics(NAME).events_consumed.labels(name, outcome)._value.get()


def test_identity_consumes_remotes_access_requested_durably() -> None:
    registered = {
        c.name: (c.subject, c.message)
        for c in handlers.consumers(db=None, metrics=kit_metrics(NAME), portal_url=PORTAL_URL)  # type: ignore[arg-type]
    }
    assert registered["identity-access-requested"] == ("portal.remote.access_requested.v1", events_pb2.AccessRequested)


async def test_access_requests_email_the_customers_asset_viewers_once_each_in_its_language(
    db: Database,
    world,
    nats_server,
    smtp_server,
    staff: Principal,  # noqa: ANN001
) -> None:
    async with db.unit_of_work() as s:
        devices_only = PermissionGroup(name="Devices only", permissions=[ASSETS_VIEW_MINE])
        tickets_only = PermissionGroup(name="Tickets only", permissions=[TICKETS_VIEW_MINE])
        s.add_all([devices_only, tickets_only])
        quiet = Customer(id=str(uuid.uuid4()), business_name="Quiet", email="q@quiet.test", email_key="q@quiet.test")
        paper = Customer(id=str(uuid.uuid4()), business_name="Paper", email="p@paper.test", email_key="p@paper.test")
        quiet.no_email = True
        paper.receive_report_emails = False
        s.add_all([quiet, paper])
        # Dora and Otto may see only their own contact's devices.
        dora_desk = Contact(customer_id=world.customer_a, name="Dora Desk", email="dora@acme.test")
        otto_desk = Contact(customer_id=world.customer_a, name="Otto Desk", email="otto@acme.test")
        s.add_all([dora_desk, otto_desk])
    async with db.unit_of_work() as s:
        contacts = {"dora@acme.test": dora_desk.id, "otto@acme.test": otto_desk.id}
        users = [
            # Customer A (world's Alice is in the Admin Portal Group: she may see every asset).
            ("dora@acme.test", world.customer_a, "Devices only", "pw-dora-123456"),
            ("otto@acme.test", world.customer_a, "Devices only", "pw-otto-123456"),
            ("carl@acme.test", world.customer_a, "Tickets only", "pw-carl-123456"),
            ("nina@acme.test", world.customer_a, NON_PORTAL_USER_GROUP, "pw-nina-123456"),
            ("eve@acme.test", world.customer_a, "", "pw-eve-1234567"),  # disabled below
            ("ivy@acme.test", world.customer_a, "", ""),  # invited, no password yet
            ("quinn@quiet.test", quiet.id, "", "pw-quinn-12345"),
            ("pat@paper.test", paper.id, "", "pw-pat-1234567"),
        ]
        for email, customer_id, group, password in users:
            user, _ = await create_portal_user(
                s,
                principal=staff,
                customer_id=customer_id,
                contact_id=contacts.get(email, ""),
                login=email,
                email=email,
                password=password,
                group_name=group,
            )
            if email.startswith("eve@"):
                user.disabled_at = utcnow()
            if email.startswith("dora@"):
                user.language = "fr"  # SPEC H5: Dora reads French; Alice has chosen nothing (English)

    nc = await kit_events.connect(nats_server.url, "identity-access-requested-test")
    js = nc.jetstream()
    await kit_events.ensure_stream(nc)
    name = f"identity-test-access-requested-{uuid.uuid4().hex[:8]}"
    registered = next(
        c
        for c in handlers.consumers(db=db, metrics=kit_metrics(NAME), portal_url=PORTAL_URL)
        if c.name == handlers.ACCESS_REQUESTED_CONSUMER
    )

    def start() -> asyncio.Task:
        consumer = kit_events.Consumer(
            name=name,
            subject=registered.subject,
            message=registered.message,
            handler=registered._handler,
            db=db,
            metrics=kit_metrics(NAME),
        )
        return asyncio.create_task(consumer.run(nc))

    async def stop(task: asyncio.Task) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def publish(event: events_pb2.AccessRequested, msg_id: str = "") -> None:
        msg_id = msg_id or event.meta.event_id
        await js.publish(handlers.ACCESS_REQUESTED, event.SerializeToString(), headers={kit_events.MSG_ID: msg_id})

    # Dora's device; a device assigned to nobody (in no one's "Mine"); Otto's device, last.
    event = requested(world.customer_a, reason="Check the printer driver\x1b[2J", asset_contact_id=dora_desk.id)
    unassigned = requested(world.customer_a, asset_name="Shared printer")
    task = start()
    try:
        await publish(requested(quiet.id))
        await publish(requested(paper.id))
        await publish(requested(world.customer_b))  # Bea's only login may not see assets
        await publish(requested("no-such-customer"))
        await publish(event)
        await publish(event, msg_id=str(uuid.uuid4()))  # republished under another message id
        await publish(unassigned)
        marker = requested(world.customer_a, asset_name="Marker", asset_contact_id=otto_desk.id)
        await publish(marker)

        async def all_handled() -> bool:
            return any(e.cause_event_id == marker.meta.event_id for e in await queued(db))

        await until(all_handled)
        sent = [e for e in await queued(db) if e.cause_event_id == event.meta.event_id]
        # Who may see every device, and Dora, whose device it is; not Otto (nor anyone who may not see devices).
        assert [e.recipient for e in sent] == ["alice@acme.test", "dora@acme.test"]
        by_event = {
            ev.meta.event_id: sorted(e.recipient for e in await queued(db) if e.cause_event_id == ev.meta.event_id)
            for ev in (event, unassigned, marker)
        }
        assert by_event[unassigned.meta.event_id] == ["alice@acme.test"]
        assert by_event[marker.meta.event_id] == ["alice@acme.test", "otto@acme.test"]
        assert {e.cause_event_id for e in await queued(db)} == set(by_event)

        alice, dora = sent
        assert alice.subject == "Remote access requested: Front desk PC"
        for expected in (
            "Hello Alice Moreno,",
            'Terry Technician asked for remote access to your device "Front desk PC" for 30 minutes.',
            "Reason: Check the printer driver [2J",
            f"{PORTAL_URL}/remote-requests",
        ):
            assert expected in alice.body, expected
        assert "\x1b" not in alice.body and "Bonjour" not in alice.body
        # Each recipient in its own language, not both at once.
        assert dora.subject == "Demande d'accès à distance : Front desk PC"
        for expected in (
            "Bonjour Dora Desk,",
            "Terry Technician demande un accès à distance à votre appareil « Front desk PC » pendant 30 minutes.",
            "Motif : Check the printer driver [2J",
        ):
            assert expected in dora.body, expected
        assert "Hello" not in dora.body

        # The mailer delivers them over SMTP, one message per person.
        mailer = Mailer(db, SmtpTransport(SmtpConfig(host="127.0.0.1", port=smtp_server.port, mail_from="p@x.test")))
        assert await mailer.send_pending() == 5
        envelopes = smtp_server.inbox.envelopes
        assert sorted(e.rcpt_tos for e in envelopes) == [["alice@acme.test"]] * 3 + [
            ["dora@acme.test"],
            ["otto@acme.test"],
        ]
        to_dora = next(e for e in envelopes if e.rcpt_tos == ["dora@acme.test"])
        message = message_from_bytes(to_dora.content, policy=policy.default)
        assert message["Subject"].startswith("Demande d'accès à distance : ")
        assert "Bonjour Dora Desk," in message.get_content()

        # A real redelivery of the whole stream is absorbed by the inbox.
        await stop(task)
        await js.delete_consumer(kit_events.STREAM, name)
        duplicates = consumed(name, "duplicate")
        task = start()

        async def replayed() -> bool:
            return consumed(name, "duplicate") >= duplicates + 8

        await until(replayed)
        assert consumed(name, "failed") == 0
        assert len(await queued(db)) == 5
    finally:
        await stop(task)
        await nc.close()
