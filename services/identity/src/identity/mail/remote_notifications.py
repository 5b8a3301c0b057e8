"""The "Remote access requested" email (issue 14, SPEC X1), consumed from remote's
`portal.remote.access_requested.v1` and queued in the mail outbox like the ticket notifications:

- who receives it is `mail.recipients` (`Kind.DEVICES`): the customer's portal users who may see its assets
  (Assets - View All or View Mine), enabled, with a password and an email; nobody when the customer wants no
  report emails or no email of any kind (SPEC C3), as for ticket emails. Each gets its own email, greeted by name;
- identity keeps no language per portal user and the event carries none, so the email is written in both of the
  portal's languages, English then French, each complete (subject in both too);
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


def access_requested(*, name: str, technician: str, asset: str, minutes: int, reason: str, portal_url: str) -> Rendered:
    """The email's subject and text, English then French."""
    technician = _one_line(technician) or "A technician"
    technicien = _one_line(technician) or "Un technicien"
    asset = _one_line(asset) or "one of your devices"
    appareil = _one_line(asset) or "l'un de vos appareils"
    reason = _CONTROL.sub(" ", reason).strip()[:MAX_REASON] or "(none given)"
    motif = reason if reason != "(none given)" else "(aucun)"
    link = requests_link(portal_url)
    name = _one_line(name)
    subject = _one_line(f"Remote access requested: {asset} / Demande d'accès à distance : {appareil}", MAX_SUBJECT)
    english = (
        f"{f'Hello {name},' if name else 'Hello,'}\n\n"
        f'{technician} asked for remote access to your device "{asset}" for {minutes} minute'
        f"{'s' if minutes != 1 else ''}.\nReason: {reason}\n\n"
        "Nothing happens unless you approve it. Approve or decline the request in the portal:\n"
        f"{link}\n\n"
        "This is an automatic message; replies to it are not read.\n"
    )
    french = (
        f"{f'Bonjour {name},' if name else 'Bonjour,'}\n\n"
        f"{technicien} demande un accès à distance à votre appareil « {appareil} » pendant {minutes} minute"
        f"{'s' if minutes > 1 else ''}.\nMotif : {motif}\n\n"
        "Rien ne se passe sans votre accord. Approuvez ou refusez la demande dans le portail :\n"
        f"{link}\n\n"
        "Ce message est automatique ; les réponses ne sont pas lues.\n"
    )
    return Rendered(subject=subject, body=f"{english}\n-- Français --\n\n{french}")


def access_requested_handler(*, portal_url: str) -> EventHandler:
    async def handle(s: AsyncSession, event: events_pb2.AccessRequested, event_id: str) -> None:
        customer_id = event.meta.customer_id
        to = await recipients(s, customer_id, Kind.DEVICES)
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
