"""The contact a script run was for, so a portal user's "Mine" scope lists that contact's runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("script_runs") as batch:
        # NULL for the runs made before this revision: they were recorded for no contact, so only "All" sees them.
        batch.add_column(sa.Column("contact_id", sa.String(36), nullable=True))
    op.create_index(
        op.f("ix_script_runs_customer_contact_started"),
        "script_runs",
        ["customer_id", "contact_id", "started_at", "id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_script_runs_customer_contact_started"), table_name="script_runs")
    with op.batch_alter_table("script_runs") as batch:
        batch.drop_column("contact_id")
