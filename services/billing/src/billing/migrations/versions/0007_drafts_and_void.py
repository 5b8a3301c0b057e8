"""Draft invoices and estimates; when an invoice was sent or voided, and by whom; the name of an estimate's decider.

A draft invoice has no number until it is sent (numbers follow the order invoices reach customers). Invoices
made before this revision were sent when issued.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint(op.f("ck_invoices_status"), type_="check")
        batch.create_check_constraint("status", "status IN ('draft', 'open', 'paid', 'void')")
        batch.alter_column("number", existing_type=sa.String(length=32), nullable=True)
        batch.add_column(sa.Column("sent_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("voided_by", sa.String(length=36), nullable=True))
    op.execute("UPDATE invoices SET sent_on = issued_on")
    with op.batch_alter_table("estimates") as batch:
        batch.drop_constraint(op.f("ck_estimates_status"), type_="check")
        batch.create_check_constraint("status", "status IN ('draft', 'open', 'approved', 'declined')")
        batch.add_column(sa.Column("decided_by_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM estimate_lines WHERE estimate_id IN (SELECT id FROM estimates WHERE status = 'draft')")
    op.execute("DELETE FROM estimates WHERE status = 'draft'")
    with op.batch_alter_table("estimates") as batch:
        batch.drop_column("decided_by_name")
        batch.drop_constraint(op.f("ck_estimates_status"), type_="check")
        batch.create_check_constraint("status", "status IN ('open', 'approved', 'declined')")
    op.execute("DELETE FROM invoice_lines WHERE invoice_id IN (SELECT id FROM invoices WHERE status = 'draft')")
    op.execute("DELETE FROM invoices WHERE status = 'draft'")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("voided_by")
        batch.drop_column("voided_at")
        batch.drop_column("sent_on")
        batch.alter_column("number", existing_type=sa.String(length=32), nullable=False)
        batch.drop_constraint(op.f("ck_invoices_status"), type_="check")
        batch.create_check_constraint("status", "status IN ('open', 'paid', 'void')")
