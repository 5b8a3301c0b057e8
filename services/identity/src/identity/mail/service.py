"""The mail outbox: queueing the emails events call for. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.db import new_id, utcnow
from identity.mail import templates
from identity.mail.models import OutboundEmail
from identity.secrets import SecretBox
from portal.tickets.v1 import events_pb2 as ticket_events_pb2
from servicekit.db import signal_after_commit

log = logging.getLogger(__name__)

# Raised by a unit of work that queued an email; the mailer wakes on it once that work commits.
MAIL_SIGNAL = "identity.mail"


async def wants_no_email(s: AsyncSession, customer_id: str | None) -> bool:
    """Whether the customer wants no email of any kind. SPEC C3 "No email of any kind" silences the customer and
    every one of its contacts and portal users: ticket notifications and account emails (password resets,
    invitations, login details) alike, and no portal user is made just to be invited. Every email to a customer's
    people asks this, here and nowhere else."""
    customer = await s.get(Customer, customer_id) if customer_id else None
    return customer is not None and customer.no_email


async def queue_email(
    s: AsyncSession,
    *,
    cause_event_id: str,
    template: str,
    recipient: str,
    subject: str,
    body: str,
    customer_id: str | None = None,
    html: str = "",
    box: SecretBox | None = None,
) -> bool:
    """Add an email to the outbox; False when this event already queued this template for this recipient.

    With `box` the body (text and HTML) is stored encrypted: it carries a single-use link, and the mailer blanks it
    once sent."""
    sealed = box is not None
    if box is not None:
        body = box.seal(json.dumps({"text": body, "html": html}))
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = (
        insert(OutboundEmail)
        .values(
            id=new_id(),
            cause_event_id=cause_event_id,
            template=template,
            recipient=recipient,
            customer_id=customer_id,
            subject=subject,
            body=body,
            sealed=sealed,
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["cause_event_id", "template", "recipient"])
    )
    result = await s.execute(stmt)
    if result.rowcount:
        signal_after_commit(s, MAIL_SIGNAL)
    return bool(result.rowcount)


async def queue_ticket_created(
    s: AsyncSession, *, event: ticket_events_pb2.TicketCreated, event_id: str, portal_url: str
) -> bool:
    """Email the ticket's contact (or the customer when there is none) that the ticket was received."""
    customer = await s.get(Customer, event.customer_id) if event.customer_id else None
    if customer is None:
        log.warning("ticket %s names an unknown customer; no email queued", event.ticket_id)
        return False
    if await wants_no_email(s, customer.id):
        log.info("ticket %s: the customer wants no email of any kind; none queued", event.ticket_id)
        return False
    contact = None
    if event.contact_id:
        contact = await s.scalar(
            select(Contact).where(Contact.id == event.contact_id, Contact.customer_id == customer.id)
        )
    recipient = contact.email if contact and contact.email else customer.email
    if not recipient:
        log.info("ticket %s: neither contact nor customer has an email; no email queued", event.ticket_id)
        return False
    rendered = templates.ticket_created(
        number=event.number,
        subject=event.subject,
        ticket_id=event.ticket_id,
        portal_url=portal_url,
        greeting_name=contact.name if contact else customer.display_name,
    )
    return await queue_email(
        s,
        cause_event_id=event_id,
        template=templates.TICKET_CREATED,
        recipient=recipient,
        subject=rendered.subject,
        body=rendered.body,
        customer_id=customer.id,
    )
