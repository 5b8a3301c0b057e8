"""What identity does once at start-up so nothing readable stays at rest from before secrets were encrypted
(migration 0009 cannot do it: it has no key): TOTP secrets get encrypted, and the reset, invitation and login
details emails that were stored in plain text and already went out (or were refused for good) get blanked.
Unsent ones are still sent, then blanked by the mailer."""

from __future__ import annotations

import logging

from sqlalchemy import or_, update

from identity.mail.models import OutboundEmail
from identity.mfa.service import encrypt_legacy_secrets
from identity.secrets import SecretBox
from servicekit.db import Database

log = logging.getLogger(__name__)

# The emails that carry a single-use link or a login.
LINK_TEMPLATES = ("password_reset", "invitation", "login_details")


async def blank_sent_link_emails(db: Database) -> int:
    async with db.unit_of_work() as s:
        result = await s.execute(
            update(OutboundEmail)
            .where(
                OutboundEmail.template.in_(LINK_TEMPLATES),
                or_(OutboundEmail.sent_at.is_not(None), OutboundEmail.failed_at.is_not(None)),
                OutboundEmail.body != "",
            )
            .values(body="")
        )
    if result.rowcount:
        log.info("blanked %d sent emails that carried a link", result.rowcount)
    return result.rowcount or 0


async def migrate(db: Database, box: SecretBox) -> None:
    await encrypt_legacy_secrets(db, box)
    await blank_sent_link_emails(db)
