"""The mail outbox: queueing the emails events call for. Functions never commit; the caller's unit of work does.
Who receives an email is not decided here but by `mail.recipients`, which every sender asks first."""

from __future__ import annotations

import json

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import new_id, utcnow
from identity.mail.models import OutboundEmail
from identity.secrets import SecretBox
from servicekit.db import signal_after_commit

# Raised by a unit of work that queued an email; the mailer wakes on it once that work commits.
MAIL_SIGNAL = "identity.mail"


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
