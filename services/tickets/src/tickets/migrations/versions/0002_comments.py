"""Ticket assignee, site and asset; comments (public and private).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("assignee_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("site_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("asset_id", sa.String(64), nullable=False, server_default=""))
    op.create_index("ix_tickets_customer_updated", "tickets", ["customer_id", "updated_at", "id"])
    op.create_index("ix_tickets_customer_site", "tickets", ["customer_id", "site_id"])
    op.create_index("ix_tickets_customer_asset", "tickets", ["customer_id", "asset_id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("ticket_id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("author_kind", sa.String(20), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_comments_ticket_id_tickets", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_comments_ticket_created", "comments", ["ticket_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_table("comments")
    op.drop_index("ix_tickets_customer_asset", table_name="tickets")
    op.drop_index("ix_tickets_customer_site", table_name="tickets")
    op.drop_index("ix_tickets_customer_updated", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("asset_id")
        batch.drop_column("site_id")
        batch.drop_column("assignee_id")
