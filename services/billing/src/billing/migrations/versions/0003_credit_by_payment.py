"""Index the store credit ledger by payment: a payments page reads how much of each payment became credit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_credit_entries_payment", "credit_entries", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_credit_entries_payment", table_name="credit_entries")
