"""A script run that asked for a new ticket (SPEC X2): the flag, and the device's name for that ticket's subject.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("script_runs") as batch:
        batch.add_column(sa.Column("new_ticket", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("asset_name", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("script_runs") as batch:
        batch.drop_column("asset_name")
        batch.drop_column("new_ticket")
