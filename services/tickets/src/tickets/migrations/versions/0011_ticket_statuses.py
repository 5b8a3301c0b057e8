"""The ticket status list admins configure (issue 12): NULL keeps the built-in six.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_settings") as batch:
        batch.add_column(sa.Column("statuses_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_settings") as batch:
        batch.drop_column("statuses_json")
