"""The payer's language on a payment, so its receipt is in that language whoever finishes it — the request, a
retry, a webhook, or the reconciler after a crash.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("language", sa.String(length=5), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("language")
