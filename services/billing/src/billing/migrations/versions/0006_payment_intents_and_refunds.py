"""Payment intents that can be voided, and refunds.

A payment left pending by a crash is finished or voided by the reconciler; a charge that turns up at the
processor for a voided payment, and a staff member's refund, are `refunds` rows, each sent to the processor once
under a key derived from its id (the same pattern as payments).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(op.f("ck_payments_status"), type_="check")
        batch.create_check_constraint("status", "status IN ('pending', 'succeeded', 'failed', 'voided')")
        batch.add_column(sa.Column("refunded_minor", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_payments_pending", "payments", ["status", "created_at"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("payment_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("processor_refund_id", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_refunds_status")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index("ix_refunds_payment", "refunds", ["payment_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_refunds_payment", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_payments_pending", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("refunded_minor")
        batch.drop_constraint(op.f("ck_payments_status"), type_="check")
        batch.create_check_constraint("status", "status IN ('pending', 'succeeded', 'failed')")
