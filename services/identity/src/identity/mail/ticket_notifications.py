"""Ticket notifications (SPEC T7), consumed from the tickets service's events and queued in the mail outbox:

- a new ticket, a staff member's public comment (with the comment) and a closed ticket email the customer's side;
- a customer's comment emails the assigned staff member (nobody when the ticket is unassigned).

Who "the customer's side" is — the ticket's contact or the customer, the additional notification emails, nobody when
the customer receives no report emails or no email of any kind (SPEC C3) — is `mail.recipients` (`Kind.TICKET`),
not a rule of this module. Each recipient gets its own email, greeted by its own name.

A private staff note is never mailed: the handler skips it, and the event does not even carry its text. The
consumers (`events.handlers`) are durable and inbox-idempotent through servicekit, and an email is unique per
(event, template, recipient), so redeliveries queue nothing twice.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from identity.mail import templates, words
from identity.mail.recipients import Kind, recipients
from identity.mail.service import queue_email
from identity.mail.templates import Rendered
from identity.mail.words import say
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


def staff_reply(  # noqa: PLR0913
    *,
    number: int,
    subject: str,
    ticket_id: str,
    portal_url: str,
    greeting: str,
    author: str,
    body: str,
    language: str = "en",
) -> Rendered:
    quoted = body if len(body) <= MAX_QUOTED else body[:MAX_QUOTED] + "…"
    text = say(
        language,
        "staff_reply.body",
        author=_one_line(author) or say(language, "staff_reply.author"),
        number=number,
        subject=_one_line(subject),
        quoted=quoted,
        link=_link(portal_url, ticket_id),
    )
    return Rendered(
        subject=_subject(say(language, "staff_reply.subject", number=number, subject=subject)),
        body=f"{greeting}\n\n{text}\n\n{say(language, 'automatic')}\n",
    )


def closed(
    *, number: int, subject: str, ticket_id: str, portal_url: str, greeting: str, language: str = "en"
) -> Rendered:
    text = say(language, "closed.body", number=number, subject=_one_line(subject), link=_link(portal_url, ticket_id))
    return Rendered(
        subject=_subject(say(language, "closed.subject", number=number, subject=subject)),
        body=f"{greeting}\n\n{text}\n",
    )


def customer_comment(
    *, number: int, subject: str, ticket_id: str, portal_url: str, author: str, language: str = "en"
) -> Rendered:
    author = _one_line(author) or say(language, "customer_comment.author")
    text = say(
        language,
        "customer_comment.body",
        author=author,
        number=number,
        subject=_one_line(subject),
        ticket_id=ticket_id,
    )
    return Rendered(
        subject=_subject(say(language, "customer_comment.subject", number=number, subject=subject)),
        body=f"{text}\n",
    )


def _greeting(name: str, language: str = "en") -> str:
    return words.greeting(language, name)


async def queue_ticket_created(
    s: AsyncSession, *, event: events_pb2.TicketCreated, event_id: str, portal_url: str
) -> bool:
    """Email the customer's side that the ticket was received; False when nobody is to be told."""
    to = await recipients(s, event.customer_id, Kind.TICKET, contact_id=event.contact_id)
    if not to:
        log.info("ticket %s: nobody to email about the new ticket", event.ticket_id)
    queued = False
    for r in to:
        rendered = templates.ticket_created(
            number=event.number,
            subject=event.subject,
            ticket_id=event.ticket_id,
            portal_url=portal_url,
            greeting_name=r.name,
            language=r.language or "en",
        )
        queued |= await queue_email(
            s,
            cause_event_id=event_id,
            template=templates.TICKET_CREATED,
            recipient=r.email,
            subject=rendered.subject,
            body=rendered.body,
            customer_id=event.customer_id,
        )
    return queued


def ticket_commented_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.TicketCommented, event_id: str) -> None:
        # Only what staff say publicly reaches the customer's inbox; a customer's own comment is not echoed.
        if not event.is_public or event.author_kind != "staff":
            return
        to = await recipients(s, event.customer_id, Kind.TICKET, contact_id=event.contact_id)
        if not to:
            log.info("ticket %s: nobody to email about the reply", event.ticket_id)
        for recipient in to:
            r = staff_reply(
                number=event.number,
                subject=event.subject,
                ticket_id=event.ticket_id,
                portal_url=portal_url,
                greeting=_greeting(recipient.name, recipient.language or "en"),
                author=event.author_name,
                body=event.body,
                language=recipient.language or "en",
            )
            await queue_email(
                s,
                cause_event_id=event_id,
                template=TEMPLATE_STAFF_REPLY,
                recipient=recipient.email,
                subject=r.subject,
                body=r.body,
                customer_id=event.customer_id,
            )

    return handle


def ticket_closed_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.TicketClosed, event_id: str) -> None:
        for recipient in await recipients(s, event.customer_id, Kind.TICKET, contact_id=event.contact_id):
            r = closed(
                number=event.number,
                subject=event.subject,
                ticket_id=event.ticket_id,
                portal_url=portal_url,
                greeting=_greeting(recipient.name, recipient.language or "en"),
                language=recipient.language or "en",
            )
            await queue_email(
                s,
                cause_event_id=event_id,
                template=TEMPLATE_CLOSED,
                recipient=recipient.email,
                subject=r.subject,
                body=r.body,
                customer_id=event.customer_id,
            )

    return handle


def customer_commented_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.CustomerCommented, event_id: str) -> None:
        # The operator's own mail: it goes to the assignee whatever the customer's email settings.
        for recipient in await recipients(s, event.customer_id, Kind.STAFF, staff_id=event.assignee_id):
            r = customer_comment(
                number=event.number,
                subject=event.subject,
                ticket_id=event.ticket_id,
                portal_url=portal_url,
                author=event.author_name,
                language=recipient.language or "en",
            )
            await queue_email(
                s,
                cause_event_id=event_id,
                template=TEMPLATE_CUSTOMER_COMMENT,
                recipient=recipient.email,
                subject=r.subject,
                body=r.body,
                customer_id=event.customer_id,
            )

    return handle
