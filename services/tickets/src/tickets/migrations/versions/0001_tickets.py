"""Outbox and inbox, tickets, and the counter ticket numbers come from.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from servicekit.migrations import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN = sa.text("closed_at IS NULL")


def upgrade() -> None:
    create_kit_tables(op)

    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    op.bulk_insert(counters, [{"name": "ticket_number", "last_value": 0}])

    op.create_table(
        "tickets",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("priority", sa.String(20), nullable=False),
        sa.Column("issue_type", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("number", name="uq_tickets_number"),
        sa.UniqueConstraint("customer_id", "created_by", "idempotency_key", name="uq_tickets_idempotency"),
    )
    op.create_index("ix_tickets_customer_created", "tickets", ["customer_id", "created_at", "id"])
    op.create_index(
        "ix_tickets_customer_open_created",
        "tickets",
        ["customer_id", "created_at", "id"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index("ix_tickets_customer_contact_created", "tickets", ["customer_id", "contact_id", "created_at", "id"])
    op.create_index("ix_tickets_created", "tickets", ["created_at", "id"])


def downgrade() -> None:
    op.drop_table("tickets")
    op.drop_table("counters")
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_table("outbox")
