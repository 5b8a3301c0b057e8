"""A customer's tax rate and terms come from identity's customer_updated events: the time of the event applied,
so an older one arriving later is ignored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_billing") as batch:
        batch.add_column(sa.Column("settings_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_billing") as batch:
        batch.drop_column("settings_at")
