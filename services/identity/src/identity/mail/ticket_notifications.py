"""Ticket notifications (SPEC T7), consumed from the tickets service's events and queued in the mail outbox:

- a staff member's public comment emails the ticket's contact (or the customer) with the comment;
- a closed ticket emails the contact (or the customer);
- a customer's comment emails the assigned staff member (nobody when the ticket is unassigned).

A private staff note is never mailed: the handler skips it, and the event does not even carry its text. The
consumers (`events.handlers`) are durable and inbox-idempotent through servicekit, and an email is unique per
(event, template, recipient), so redeliveries queue nothing twice. A customer that wants no email of any kind (SPEC C3,
`mail.service.wants_no_email`) gets neither of its two emails.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.mail.service import queue_email, wants_no_email
from identity.mail.templates import Rendered
from identity.users.models import StaffUser
from portal.tickets.v1 import events_pb2
from servicekit.events import EventHandler

log = logging.getLogger(__name__)

TEMPLATE_STAFF_REPLY = "ticket_staff_reply"
TEMPLATE_CLOSED = "ticket_closed"
TEMPLATE_CUSTOMER_COMMENT = "ticket_customer_comment"
MAX_SUBJECT = 300
MAX_QUOTED = 4000


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _subject(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "…"


def _link(portal_url: str, ticket_id: str) -> str:
    return f"{portal_url.rstrip('/')}/tickets/{ticket_id}"


def staff_reply(
    *, number: int, subject: str, ticket_id: str, portal_url: str, greeting: str, author: str, body: str
) -> Rendered:
    quoted = body if len(body) <= MAX_QUOTED else body[:MAX_QUOTED] + "…"
    return Rendered(
        subject=_subject(f"New reply on ticket #{number}: {subject}"),
        body=(
            f"{greeting}\n\n{_one_line(author) or 'Our support team'} replied to your ticket #{number}: "
            f"{_one_line(subject)}\n\n{quoted}\n\n"
            f"Read the whole conversation and answer in the portal:\n{_link(portal_url, ticket_id)}\n\n"
            "This is an automatic message; replies to it are not read.\n"
        ),
    )


def closed(*, number: int, subject: str, ticket_id: str, portal_url: str, greeting: str) -> Rendered:
    return Rendered(
        subject=_subject(f"Ticket #{number} closed: {subject}"),
        body=(
            f"{greeting}\n\nYour ticket #{number}: {_one_line(subject)} is now closed.\n\n"
            f"You can still read it in the portal:\n{_link(portal_url, ticket_id)}\n\n"
            "If you need more help, open a new ticket from the portal.\n"
        ),
    )


def customer_comment(*, number: int, subject: str, ticket_id: str, portal_url: str, author: str) -> Rendered:
    return Rendered(
        subject=_subject(f"Customer comment on ticket #{number}: {subject}"),
        body=(
            f"{_one_line(author) or 'The customer'} commented on ticket #{number}: {_one_line(subject)}\n\n"
            f"Ticket id: {ticket_id}\n"
        ),
    )


async def _customer_recipient(s: AsyncSession, customer_id: str, contact_id: str) -> tuple[str, str] | None:
    """(email, greeting) for the ticket's contact, else its customer; None when there is nobody to write to, or the
    customer wants no email of any kind."""
    customer = await s.get(Customer, customer_id) if customer_id else None
    if customer is None or await wants_no_email(s, customer.id):
        return None
    contact = None
    if contact_id:
        contact = await s.scalar(select(Contact).where(Contact.id == contact_id, Contact.customer_id == customer.id))
    email = contact.email if contact and contact.email else customer.email
    name = contact.name if contact else customer.display_name
    return (email, f"Hello {name}," if name else "Hello,") if email else None


def ticket_commented_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.TicketCommented, event_id: str) -> None:
        # Only what staff say publicly reaches the customer's inbox; a customer's own comment is not echoed.
        if not event.is_public or event.author_kind != "staff":
            return
        to = await _customer_recipient(s, event.customer_id, event.contact_id)
        if to is None:
            log.info("ticket %s: nobody to email about the reply", event.ticket_id)
            return
        r = staff_reply(
            number=event.number,
            subject=event.subject,
            ticket_id=event.ticket_id,
            portal_url=portal_url,
            greeting=to[1],
            author=event.author_name,
            body=event.body,
        )
        await queue_email(
            s,
            cause_event_id=event_id,
            template=TEMPLATE_STAFF_REPLY,
            recipient=to[0],
            subject=r.subject,
            body=r.body,
            customer_id=event.customer_id,
        )

    return handle


def ticket_closed_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.TicketClosed, event_id: str) -> None:
        to = await _customer_recipient(s, event.customer_id, event.contact_id)
        if to is None:
            return
        r = closed(
            number=event.number, subject=event.subject, ticket_id=event.ticket_id, portal_url=portal_url, greeting=to[1]
        )
        await queue_email(
            s,
            cause_event_id=event_id,
            template=TEMPLATE_CLOSED,
            recipient=to[0],
            subject=r.subject,
            body=r.body,
            customer_id=event.customer_id,
        )

    return handle


def customer_commented_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.CustomerCommented, event_id: str) -> None:
        staff = await s.get(StaffUser, event.assignee_id) if event.assignee_id else None
        # A deactivated staff member (SPEC S1) is emailed nothing more.
        if staff is None or not staff.email or staff.disabled_at is not None:
            return
        r = customer_comment(
            number=event.number,
            subject=event.subject,
            ticket_id=event.ticket_id,
            portal_url=portal_url,
            author=event.author_name,
        )
        await queue_email(
            s,
            cause_event_id=event_id,
            template=TEMPLATE_CUSTOMER_COMMENT,
            recipient=staff.email,
            subject=r.subject,
            body=r.body,
            customer_id=event.customer_id,
        )

    return handle
