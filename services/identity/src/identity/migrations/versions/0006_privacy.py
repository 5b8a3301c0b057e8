"""Communication preferences on customers (SPEC P10, C3).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("receive_billing_emails", "receive_marketing_emails", "receive_report_emails")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
