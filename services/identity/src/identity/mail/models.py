from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow


class OutboundEmail(Base):
    """The mail outbox: one row per email an event calls for; the mailer sends it and marks it sent.

    UNIQUE(cause_event_id, template, recipient) makes a redelivered event add nothing.
    """

    __tablename__ = "outbound_emails"
    __table_args__ = (
        UniqueConstraint("cause_event_id", "template", "recipient"),
        Index("ix_outbound_emails_pending", "sent_at", "failed_at", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    cause_event_id: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(254))
    customer_id: Mapped[str | None] = mapped_column(String(36), default=None)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # The body is encrypted with identity's secrets key (it carries a reset or invitation link) and blanked once
    # sent, so the token is never readable at rest.
    sealed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A mailer holds a row while it sends it, so two replicas never send the same email.
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    # Set when the server refused the recipient for good; the row is not retried.
    failed_at: Mapped[datetime | None] = mapped_column(default=None)
