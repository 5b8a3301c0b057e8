"""The staff queue's "assigned to me" list: tickets by assignee, newest first, without scanning every ticket.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_assignee_created", "tickets", ["assignee_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_assignee_created", table_name="tickets")
