"""Web push (X7): a portal user's browser subscriptions, the user's opt-in per kind, and the push outbox."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow


class PushSubscription(Base):
    """One browser's PushSubscription (endpoint and keys) for one portal user. An endpoint belongs to one user: the
    same browser subscribed again by another user moves to that user."""

    __tablename__ = "push_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    portal_user_id: Mapped[str] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushPreference(Base):
    """What a portal user wants pushed; no row means nothing (every kind is opt-in)."""

    __tablename__ = "push_preferences"

    portal_user_id: Mapped[str] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"), primary_key=True)
    ticket_replies: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    estimates: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    invoices: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    remote_requests: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundPush(Base):
    """The push outbox, like the mail outbox: one row per (event, subscription); the pusher sends and marks it.
    The payload is the JSON the browser shows: a title, a short text and a path in the portal, nothing else."""

    __tablename__ = "outbound_pushes"
    __table_args__ = (
        UniqueConstraint("cause_event_id", "subscription_id"),
        Index("ix_outbound_pushes_pending", "sent_at", "failed_at", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    cause_event_id: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(36), default=None)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    failed_at: Mapped[datetime | None] = mapped_column(default=None)
