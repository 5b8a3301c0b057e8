"""Issue 12, C3 / P10: each email switch of a customer decides exactly who receives which email.

For every switch, staff set it on customer A (through `update_customer`, as the staff API does), then the tickets
service's and billing's events for A — a new ticket and a staff reply about its contact Alice, a ticket closed with no
contact, a customer comment on a ticket assigned to staff, a payment by Alice — are published on a real nats-server's
JetStream and consumed by identity's registered consumers; Alice asks for a password reset and staff re-invite her.
Customer B (all defaults) gets the same events last, so B's emails both mark the end of the run and show that A's
settings never silence anyone else. The test compares every queued mail row, (template, recipient), with what the
switch calls for. SQLite and PostgreSQL (the `db_url` fixture).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa
from google.protobuf.message import Message

from identity.customers.models import Customer
from identity.customers.service import Details, update_customer
from identity.email_templates import service as email_templates
from identity.events import handlers
from identity.mail import templates
from identity.mail.billing_notifications import TEMPLATE_PAYMENT_RECEIPT
from identity.mail.models import OutboundEmail
from identity.mail.recipients import Kind, Role, recipients
from identity.mail.ticket_notifications import TEMPLATE_CLOSED, TEMPLATE_CUSTOMER_COMMENT, TEMPLATE_STAFF_REPLY
from identity.main import NAME
from identity.passwords import service as passwords
from identity.users.models import PortalUser
from portal.billing.v1 import events_pb2 as billing_events
from portal.common.v1 import common_pb2
from portal.tickets.v1 import events_pb2 as ticket_events
from servicekit import events as kit_events
from servicekit.db import Database
from servicekit.metrics import kit_metrics
from servicekit.principal import Principal

PORTAL_URL = "https://portal.example.test"
CREATED, REPLY, CLOSED, COMMENT = (
    templates.TICKET_CREATED,
    TEMPLATE_STAFF_REPLY,
    TEMPLATE_CLOSED,
    TEMPLATE_CUSTOMER_COMMENT,
)
RECEIPT, RESET, INVITATION = TEMPLATE_PAYMENT_RECEIPT, email_templates.PASSWORD_RESET, email_templates.INVITATION

ALICE, OFFICE, STAFF_EMAIL, BEA = "alice@acme.test", "office@acme.test", "admin@example.test", "bea@blue.test"
# The lists repeat Alice and the customer's own address in other cases: each person gets one email all the same.
NOTIFY = ["ops@acme.test", "ALICE@acme.test", "Office@Acme.test"]
CC = ["books@acme.test", "Alice@ACME.test"]
EVERY_A_ADDRESS = {ALICE, OFFICE, "ops@acme.test", "books@acme.test"}

# What A's people receive with every switch at its default: ticket emails to the contact (the closed ticket has none:
# the customer), the receipt to the paying contact, account emails to the user, the assignee told of the comment.
DEFAULTS = {
    CREATED: [ALICE],
    REPLY: [ALICE],
    CLOSED: [OFFICE],
    RECEIPT: [ALICE],
    RESET: [ALICE],
    INVITATION: [ALICE],
    COMMENT: [STAFF_EMAIL],
}
NOBODY: list[str] = []

SWITCHES = {
    "defaults": ({}, DEFAULTS),
    "additional notification emails receive ticket emails, not billing": (
        {"notification_emails": NOTIFY},
        {
            **DEFAULTS,
            CREATED: [ALICE, "ops@acme.test", "Office@Acme.test"],
            REPLY: [ALICE, "ops@acme.test", "Office@Acme.test"],
            CLOSED: [OFFICE, "ops@acme.test", "ALICE@acme.test"],
        },
    ),
    "invoice CC emails receive billing emails, not ticket emails": (
        {"invoice_cc_emails": CC},
        {**DEFAULTS, RECEIPT: [ALICE, "books@acme.test"]},
    ),
    "report emails off stops every ticket email, to the additional addresses too": (
        {"receive_report_emails": False, "notification_emails": NOTIFY, "invoice_cc_emails": CC},
        {**DEFAULTS, CREATED: NOBODY, REPLY: NOBODY, CLOSED: NOBODY, RECEIPT: [ALICE, "books@acme.test"]},
    ),
    "billing emails off stops every receipt, to the invoice CC too": (
        {"receive_billing_emails": False, "notification_emails": ["ops@acme.test"], "invoice_cc_emails": CC},
        {
            **DEFAULTS,
            CREATED: [ALICE, "ops@acme.test"],
            REPLY: [ALICE, "ops@acme.test"],
            CLOSED: [OFFICE, "ops@acme.test"],
            RECEIPT: NOBODY,
        },
    ),
    # No marketing email exists yet; the switch must not silence any other kind.
    "marketing emails off changes nothing else": ({"receive_marketing_emails": False}, DEFAULTS),
    "no email of any kind silences the customer, its contacts, its users and every extra address": (
        {"no_email": True, "notification_emails": NOTIFY, "invoice_cc_emails": CC},
        {
            CREATED: NOBODY,
            REPLY: NOBODY,
            CLOSED: NOBODY,
            RECEIPT: NOBODY,
            RESET: NOBODY,
            INVITATION: NOBODY,
            # The operator's own mail to its technician is not mail to the customer.
            COMMENT: [STAFF_EMAIL],
        },
    ),
}


def meta(customer_id: str) -> common_pb2.EventMeta:
    return common_pb2.EventMeta(event_id=str(uuid.uuid4()), customer_id=customer_id)


def ticket_events_for(customer_id: str, contact_id: str, staff_id: str) -> list[tuple[str, Message]]:
    """What tickets publishes for one customer: a new ticket and a staff reply about the contact, a ticket closed with
    no contact, and a customer's comment on a ticket assigned to `staff_id`."""
    common = {"ticket_id": str(uuid.uuid4()), "number": 1042, "customer_id": customer_id, "subject": "Noisy fan"}
    return [
        (handlers.TICKET_CREATED, ticket_events.TicketCreated(meta=meta(customer_id), contact_id=contact_id, **common)),
        (
            handlers.TICKET_COMMENTED,
            ticket_events.TicketCommented(
                meta=meta(customer_id),
                contact_id=contact_id,
                comment_id="c-1",
                is_public=True,
                author_kind="staff",
                author_name="Tess Tech",
                body="We replaced the fan.",
                **common,
            ),
        ),
        (handlers.TICKET_CLOSED, ticket_events.TicketClosed(meta=meta(customer_id), closed_by_kind="staff", **common)),
        (
            handlers.CUSTOMER_COMMENTED,
            ticket_events.CustomerCommented(
                meta=meta(customer_id), comment_id="c-2", assignee_id=staff_id, author_name="Alice Moreno", **common
            ),
        ),
    ]


def payment(customer_id: str, contact_id: str) -> tuple[str, Message]:
    usd = common_pb2.Money(amount_minor=12_345, currency="USD")
    event = billing_events.PaymentOutcome(
        meta=meta(customer_id),
        payment_id=f"pay-{uuid.uuid4().hex[:8]}",
        amount=usd,
        contact_id=contact_id,
        method="visa 4242",
        applied=[billing_events.AppliedToInvoice(invoice_id="inv-1", number="INV-1001", amount=usd)],
    )
    return handlers.PAYMENT_SUCCEEDED, event


async def until(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail("identity's consumers did not handle the events in time")
        await asyncio.sleep(0.1)


async def rows(db: Database) -> list[OutboundEmail]:
    async with db.unit_of_work() as s:
        return list((await s.scalars(sa.select(OutboundEmail))).all())


async def consume(db: Database, nats_url: str, published: list[tuple[str, Message]], done: set[str]) -> None:
    """Publish the events and run identity's registered consumers (under durables of their own: the stream is the
    session's) until an email caused by each event id in `done` is queued."""
    nc = await kit_events.connect(nats_url, "identity-email-switches-test")
    await kit_events.ensure_stream(nc)
    suffix = uuid.uuid4().hex[:8]
    tasks = [
        asyncio.create_task(
            kit_events.Consumer(
                name=f"{c.name}-{suffix}",
                subject=c.subject,
                message=c.message,
                handler=c._handler,
                db=db,
                metrics=kit_metrics(NAME),
            ).run(nc)
        )
        for c in handlers.consumers(db=db, metrics=kit_metrics(NAME), portal_url=PORTAL_URL)
    ]
    try:
        js = nc.jetstream()
        for subj, event in published:
            await js.publish(subj, event.SerializeToString(), headers={kit_events.MSG_ID: event.meta.event_id})

        async def handled() -> bool:
            return done <= {e.cause_event_id for e in await rows(db)}

        await until(handled)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()


@pytest.mark.parametrize("switch", list(SWITCHES))
async def test_each_email_switch_decides_who_receives_which_email(
    db: Database, world, nats_server, staff: Principal, switch: str
) -> None:  # noqa: ANN001
    settings, expected = SWITCHES[switch]
    async with db.unit_of_work() as s:
        a = await s.get(Customer, world.customer_a)
        await update_customer(
            s,
            principal=staff,
            customer_id=a.id,
            business_name=a.business_name,
            first_name=a.first_name,
            last_name=a.last_name,
            email=a.email,
            details=Details(settings=settings),
        )

    # A's events first, then B's (all defaults, customer-level: no contact) as the end marker of every consumer.
    for_a = [
        *ticket_events_for(world.customer_a, world.contact_a, world.staff),
        payment(world.customer_a, world.contact_a),
    ]
    for_b = [*ticket_events_for(world.customer_b, "", world.staff), payment(world.customer_b, "")]
    await consume(db, nats_server.url, for_a + for_b, {e.meta.event_id for _, e in for_b})
    async with db.unit_of_work() as s:
        await passwords.request_reset(s, login="Alice@Acme.test", portal_url=PORTAL_URL)
        alice = await s.get(PortalUser, world.alice)
        invited = await passwords.invite(s, user=alice, portal_url=PORTAL_URL)
    assert invited is bool(expected[INVITATION])

    a_events = {e.meta.event_id for _, e in for_a}
    b_events = {e.meta.event_id for _, e in for_b}
    queued = await rows(db)
    got_a = Counter((e.template, e.recipient) for e in queued if e.cause_event_id not in b_events)
    want_a = Counter((template, to) for template, tos in expected.items() for to in tos)
    assert got_a == want_a
    # Every event-caused row belongs to a published event: nothing came from elsewhere.
    assert {e.cause_event_id for e in queued if e.template not in (RESET, INVITATION)} <= a_events | b_events
    # B, with every default, gets its own emails whatever A chose: to its customer address, the comment to staff.
    got_b = Counter((e.template, e.recipient) for e in queued if e.cause_event_id in b_events)
    assert got_b == Counter(
        {(CREATED, BEA): 1, (REPLY, BEA): 1, (CLOSED, BEA): 1, (RECEIPT, BEA): 1, (COMMENT, STAFF_EMAIL): 1}
    )
    if settings.get("no_email"):
        assert not [e for e in queued if e.recipient.lower() in EVERY_A_ADDRESS], (
            "an email leaked to a silenced customer"
        )


async def test_each_recipient_is_greeted_by_its_own_name(db: Database, world, nats_server, staff: Principal) -> None:  # noqa: ANN001
    async with db.unit_of_work() as s:
        a = await s.get(Customer, world.customer_a)
        a.notification_emails = ["ops@acme.test"]
        a.invoice_cc_emails = ["books@acme.test"]
    reply = ticket_events_for(world.customer_a, world.contact_a, world.staff)[1]
    paid = payment(world.customer_a, world.contact_a)
    await consume(db, nats_server.url, [reply, paid], {reply[1].meta.event_id, paid[1].meta.event_id})
    bodies = {(e.template, e.recipient): e.body for e in await rows(db)}
    assert bodies[(REPLY, ALICE)].startswith("Hello Alice Moreno,")
    assert bodies[(REPLY, "ops@acme.test")].startswith("Hello Acme Dental,")
    assert bodies[(RECEIPT, ALICE)].startswith("Hello Alice Moreno,")
    assert bodies[(RECEIPT, "books@acme.test")].startswith("Hello Acme Dental,")


async def test_recipients_answers_nobody_for_an_unknown_customer_or_staff_member(db: Database, world) -> None:  # noqa: ANN001
    async with db.unit_of_work() as s:
        for kind in (Kind.TICKET, Kind.BILLING, Kind.ACCOUNT):
            assert await recipients(s, str(uuid.uuid4()), kind, user_email=ALICE) == []
            assert await recipients(s, "", kind, user_email=ALICE) == []
        assert await recipients(s, world.customer_a, Kind.STAFF, staff_id=str(uuid.uuid4())) == []
        # Another customer's contact is not this customer's: the customer's own address instead.
        [other] = await recipients(s, world.customer_b, Kind.TICKET, contact_id=world.contact_a)
        assert (other.email, other.role) == (BEA, Role.CUSTOMER)
