"""The ticket settings staff change: the default assignee of portal tickets (issue 12, SPEC T3).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("default_assignee_id", sa.String(length=64), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_settings")),
    )


def downgrade() -> None:
    op.drop_table("ticket_settings")
