"""Ticket notifications (T7): staff replies and closing email the customer, customer comments email the assignee;
private notes and a customer's own comments email nobody; a redelivered event queues nothing twice."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from identity.customers.models import Customer
from identity.mail.models import OutboundEmail
from identity.mail.ticket_notifications import (
    TEMPLATE_CLOSED,
    TEMPLATE_CUSTOMER_COMMENT,
    TEMPLATE_STAFF_REPLY,
    customer_commented_handler,
    queue_ticket_created,
    ticket_closed_handler,
    ticket_commented_handler,
)
from portal.common.v1 import common_pb2
from portal.tickets.v1 import events_pb2
from servicekit.db import Database

PORTAL_URL = "https://portal.example.test"


def meta(world) -> common_pb2.EventMeta:  # noqa: ANN001
    return common_pb2.EventMeta(event_id=str(uuid.uuid4()), customer_id=world.customer_a)


def commented(world, *, public: bool = True, kind: str = "staff", body: str = "We replaced the fan."):  # noqa: ANN001, ANN201
    return events_pb2.TicketCommented(
        meta=meta(world),
        ticket_id="t-1",
        number=1042,
        customer_id=world.customer_a,
        contact_id=world.contact_a,
        subject="Noisy fan",
        comment_id="c-1",
        is_public=public,
        author_kind=kind,
        author_id="staff-1",
        author_name="Tess Tech",
        body=body if public else "",
    )


async def run(db: Database, handler, event) -> None:  # noqa: ANN001
    async with db.unit_of_work() as s:
        await handler(portal_url=PORTAL_URL)(s, event, event.meta.event_id)


async def emails(db: Database) -> list[OutboundEmail]:
    async with db.unit_of_work() as s:
        return list((await s.scalars(sa.select(OutboundEmail).order_by(OutboundEmail.created_at))).all())


async def test_staff_reply_and_close_email_the_contact_once(db: Database, world) -> None:  # noqa: ANN001
    reply = commented(world)
    await run(db, ticket_commented_handler, reply)
    await run(db, ticket_commented_handler, reply)  # redelivered
    closed = events_pb2.TicketClosed(
        meta=meta(world),
        ticket_id="t-1",
        number=1042,
        customer_id=world.customer_a,
        contact_id=world.contact_a,
        subject="Noisy fan",
        closed_by="u",
        closed_by_kind="portal_user",
    )
    await run(db, ticket_closed_handler, closed)
    sent = await emails(db)
    assert [(e.template, e.recipient) for e in sent] == [
        (TEMPLATE_STAFF_REPLY, "alice@acme.test"),
        (TEMPLATE_CLOSED, "alice@acme.test"),
    ]
    assert "We replaced the fan." in sent[0].body and f"{PORTAL_URL}/tickets/t-1" in sent[0].body
    assert sent[0].subject == "New reply on ticket #1042: Noisy fan"
    assert sent[1].subject == "Ticket #1042 closed: Noisy fan"


async def test_private_notes_and_customer_comments_mail_no_customer(db: Database, world) -> None:  # noqa: ANN001
    await run(db, ticket_commented_handler, commented(world, public=False))
    await run(db, ticket_commented_handler, commented(world, kind="portal_user"))
    assert await emails(db) == []


async def test_customer_comment_emails_the_assignee(db: Database, world) -> None:  # noqa: ANN001
    event = events_pb2.CustomerCommented(
        meta=meta(world),
        ticket_id="t-1",
        number=1042,
        customer_id=world.customer_a,
        subject="Noisy fan",
        comment_id="c-2",
        assignee_id=world.staff,
        author_name="Alice Moreno",
    )
    await run(db, customer_commented_handler, event)
    unassigned = events_pb2.CustomerCommented(meta=meta(world), ticket_id="t-2", customer_id=world.customer_a)
    await run(db, customer_commented_handler, unassigned)
    sent = await emails(db)
    assert [(e.template, e.recipient) for e in sent] == [(TEMPLATE_CUSTOMER_COMMENT, "admin@example.test")]
    assert "Alice Moreno commented on ticket #1042" in sent[0].body

    # A deactivated assignee (SPEC S1) is emailed nothing more.
    from identity.db import utcnow
    from identity.users.models import StaffUser

    async with db.unit_of_work() as s:
        (await s.get(StaffUser, world.staff)).disabled_at = utcnow()
    later = events_pb2.CustomerCommented(
        meta=meta(world), ticket_id="t-1", customer_id=world.customer_a, comment_id="c-3", assignee_id=world.staff
    )
    await run(db, customer_commented_handler, later)
    assert len(await emails(db)) == 1


async def test_no_email_of_any_kind_silences_the_customer_and_its_contacts(db: Database, world) -> None:  # noqa: ANN001
    async with db.unit_of_work() as s:
        (await s.get(Customer, world.customer_a)).no_email = True
    await run(db, ticket_commented_handler, commented(world))
    closed = events_pb2.TicketClosed(
        meta=meta(world),
        ticket_id="t-1",
        number=1042,
        customer_id=world.customer_a,
        contact_id=world.contact_a,
        subject="Noisy fan",
        closed_by_kind="staff",
    )
    await run(db, ticket_closed_handler, closed)
    created = events_pb2.TicketCreated(
        ticket_id="t-2", number=1043, customer_id=world.customer_a, contact_id=world.contact_a, subject="Dead disk"
    )
    async with db.unit_of_work() as s:
        assert await queue_ticket_created(s, event=created, event_id="e-1", portal_url=PORTAL_URL) is False
    assert await emails(db) == []
