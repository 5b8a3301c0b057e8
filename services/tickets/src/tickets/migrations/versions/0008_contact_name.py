"""The contact's name on the ticket (SPEC T1): the open tickets list shows who the ticket is for without asking
identity for every row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        # Kept as it was when the ticket was opened; '' for tickets without a contact and for those opened before
        # this revision (identity owns contacts, so a migration has no name to fill in).
        batch.add_column(sa.Column("contact_name", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("contact_name")
