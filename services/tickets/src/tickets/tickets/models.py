"""Tickets and the counter their numbers come from."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, UTCDateTime

TICKET_NUMBER_COUNTER = "ticket_number"


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    # Human-facing "#1042": sequential for the operator, allocated from `counters` in the creating transaction.
    number: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64))
    # '' when the ticket is not linked to a contact (proto3 strings have no null either).
    contact_id: Mapped[str] = mapped_column(sa.String(64), default="")
    subject: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(50))
    priority: Mapped[str] = mapped_column(sa.String(20))
    issue_type: Mapped[str] = mapped_column(sa.String(100))
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set whenever the status becomes a closed one (Resolved, Closed) and cleared when it is reopened:
    # "open" lists filter on it, so they survive renamed or added statuses and use a partial index.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)

    __table_args__ = (
        sa.UniqueConstraint("customer_id", "created_by", "idempotency_key", name="uq_tickets_idempotency"),
        # Newest-first keyset pages: one index per list shape, each ending in (created_at, id).
        sa.Index("ix_tickets_customer_created", "customer_id", "created_at", "id"),
        sa.Index(
            "ix_tickets_customer_open_created",
            "customer_id",
            "created_at",
            "id",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        ),
        sa.Index("ix_tickets_customer_contact_created", "customer_id", "contact_id", "created_at", "id"),
        sa.Index("ix_tickets_created", "created_at", "id"),
    )


class Counter(Base):
    """Named gap-free sequences; a row is locked by the UPDATE that advances it until the transaction ends."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    last_value: Mapped[int] = mapped_column(sa.BigInteger)
