"""The "Remote access requested" email (issue 14, SPEC X1), consumed from remote's
`portal.remote.access_requested.v1` and queued in the mail outbox like the ticket notifications:

- who receives it is `mail.recipients` (`Kind.DEVICES`): the customer's portal users who may see the device
  (Assets - View All, or View Mine when the device is assigned to their own contact: the event's
  `asset_contact_id`), enabled, with a password and an email; nobody when the customer wants no report emails or no
  email of any kind (SPEC C3), as for ticket emails. Each gets its own email, greeted by name;
- it is written in each recipient's language (SPEC H5: the portal user's own choice, else the customer's default,
  else English; `mail/translations`);
- it names the technician, the device, the window and the reason, and links to `<portal>/remote-requests`, where
  the customer approves or declines; nothing is granted by the email itself, and it carries no token.

The consumer (`events.handlers`) is durable and inbox-idempotent, and an email is unique per (event, template,
recipient), so a redelivery queues nothing twice.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy.ext.asyncio import AsyncSession

from identity.mail.recipients import Kind, recipients
from identity.mail.service import queue_email
from identity.mail.templates import Rendered
from identity.mail.words import greeting, say
from portal.remote.v1 import events_pb2
from servicekit.events import EventHandler

log = logging.getLogger(__name__)

TEMPLATE_ACCESS_REQUESTED = "remote_access_requested"
MAX_SUBJECT = 300
MAX_NAME = 200
MAX_REASON = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _one_line(value: str, limit: int = MAX_NAME) -> str:
    value = " ".join(_CONTROL.sub(" ", value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def requests_link(portal_url: str) -> str:
    return f"{portal_url.rstrip('/')}/remote-requests"


def access_requested(  # noqa: PLR0913
    *, name: str, technician: str, asset: str, minutes: int, reason: str, portal_url: str, language: str = "en"
) -> Rendered:
    """The email's subject and text in the recipient's language (SPEC H5)."""
    technician = _one_line(technician) or say(language, "access_requested.technician")
    asset = _one_line(asset) or say(language, "access_requested.asset")
    reason = _CONTROL.sub(" ", reason).strip()[:MAX_REASON] or say(language, "access_requested.no_reason")
    subject = _one_line(say(language, "access_requested.subject", asset=asset), MAX_SUBJECT)
    text = say(
        language,
        "access_requested.body",
        count=minutes,
        technician=technician,
        asset=asset,
        minutes=minutes,
        reason=reason,
        link=requests_link(portal_url),
    )
    return Rendered(
        subject=subject,
        body=f"{greeting(language, _one_line(name))}\n\n{text}\n\n{say(language, 'automatic')}\n",
    )


def access_requested_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.AccessRequested, event_id: str) -> None:
        customer_id = event.meta.customer_id
        to = await recipients(s, customer_id, Kind.DEVICES, contact_id=event.asset_contact_id)
        if not to:
            log.info("access request %s: nobody to email", event.request_id[:64])
            return
        for recipient in to:
            r = access_requested(
                name=recipient.name,
                technician=event.requested_by,
                asset=event.asset_name,
                minutes=event.window_minutes,
                reason=event.reason,
                portal_url=portal_url,
                language=recipient.language or "en",
            )
            await queue_email(
                s,
                cause_event_id=event_id,
                template=TEMPLATE_ACCESS_REQUESTED,
                recipient=recipient.email,
                subject=r.subject,
                body=r.body,
                customer_id=customer_id,
            )

    return handle
