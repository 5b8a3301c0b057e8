"""Tickets and the counter their numbers come from."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column

from tickets.db import Base, UtcDateTime

TICKET_NUMBER_COUNTER = "ticket_number"


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    # Human-facing "#1042": sequential for the operator, allocated from `counters` in the creating transaction.
    number: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    customer_id: Mapped[str] = mapped_column(sa.String(64))
    # '' when the ticket is not linked to a contact (proto3 strings have no null either).
    contact_id: Mapped[str] = mapped_column(sa.String(64), default="")
    # The contact's name when the ticket was opened (T1), denormalised so lists show it without asking identity
    # for every row: the portal user's own name from its principal, or the one staff named (the gateway looks it
    # up in identity). '' without a contact.
    contact_name: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    subject: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(50))
    priority: Mapped[str] = mapped_column(sa.String(20))
    issue_type: Mapped[str] = mapped_column(sa.String(100))
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Set whenever the status becomes a closed one (Resolved, Closed) and cleared when it is reopened:
    # "open" lists filter on it, so they survive renamed or added statuses and use a partial index.
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    # Staff user id; '' when unassigned. Customer-opened tickets start with the configured default assignee.
    assignee_id: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    # The customer site and asset (owned by the assets service) the ticket is about; '' when none.
    site_id: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    asset_id: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    # The invoiced marker (T1), set from billing's invoice events that name this ticket; '' until then.
    invoice_id: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    invoice_number: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    # What search (T4) looks in, lower-cased and kept current by the service: the subject, the description and
    # the public comments; and apart, the private notes, which only staff searches read. One column per audience
    # lets PostgreSQL answer every word with one trigram index (migration 0007) or walk the list index, whichever
    # is cheaper. Deferred: lists never load them.
    search_text: Mapped[str] = deferred(mapped_column(sa.Text, nullable=False, default="", server_default=""))
    private_text: Mapped[str] = deferred(mapped_column(sa.Text, nullable=False, default="", server_default=""))

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
        sa.Index("ix_tickets_assignee_created", "assignee_id", "created_at", "id"),
        sa.Index("ix_tickets_customer_updated", "customer_id", "updated_at", "id"),
        sa.Index("ix_tickets_customer_site", "customer_id", "site_id"),
        sa.Index("ix_tickets_customer_asset", "customer_id", "asset_id"),
    )


class Comment(Base):
    """A public comment or a private staff note on a ticket."""

    __tablename__ = "comments"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    # Denormalised from the ticket so a comment can never be read outside its customer's filter.
    customer_id: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[str] = mapped_column(sa.Text)
    is_public: Mapped[bool] = mapped_column(sa.Boolean)
    author_kind: Mapped[str] = mapped_column(sa.String(20))
    author_id: Mapped[str] = mapped_column(sa.String(64))
    author_name: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (sa.Index("ix_comments_ticket_created", "ticket_id", "created_at", "id"),)


class Counter(Base):
    """Named gap-free sequences; a row is locked by the UPDATE that advances it until the transaction ends."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    last_value: Mapped[int] = mapped_column(sa.BigInteger)


class Attachment(Base):
    """A file on a ticket or one of its comments; the bytes live in the blob store under `blob_key`."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    comment_id: Mapped[str] = mapped_column(sa.String(36), default="")
    customer_id: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    blob_key: Mapped[str] = mapped_column(sa.String(64))
    # A small PNG preview of an image, in the blob store; '' when there is none.
    thumbnail_key: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    is_public: Mapped[bool] = mapped_column(sa.Boolean)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The uploader's key: a retried upload answers this attachment instead of storing the file again.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)

    __table_args__ = (
        sa.Index("ix_attachments_ticket_created", "ticket_id", "created_at", "id"),
        sa.UniqueConstraint(
            "ticket_id", "created_by", "idempotency_key", name="uq_attachments_ticket_id_created_by_idempotency_key"
        ),
    )


class TicketSettings(Base):
    """The ticket settings staff change (issue 12): one row, id 1. No row yet means the process's settings apply."""

    __tablename__ = "ticket_settings"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    # Who portal-created tickets go to (SPEC T3); '' = nobody. A staff id from identity's directory (the gateway
    # checks it there; tickets holds no staff list).
    default_assignee_id: Mapped[str] = mapped_column(sa.String(64), default="")
    # The status list (tickets.tickets.statuses) as JSON; NULL = the built-in six.
    statuses_json: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    updated_by: Mapped[str] = mapped_column(sa.String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
