"""The invoiced marker (SPEC T1): billing's invoice events that name a ticket set it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        # '' until an invoice names the ticket; the latest invoice wins.
        batch.add_column(sa.Column("invoice_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("invoice_number", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("invoice_number")
        batch.drop_column("invoice_id")
