"""Global search (SPEC H4): full-text indexes over invoice numbers and lines, estimate numbers, names and lines,
and payment methods and references — GIN expression indexes on PostgreSQL, external-content FTS5 tables kept by
triggers on SQLite (servicekit.search). Rows already there are indexed here.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

from servicekit.search import TextIndex, create_text_index, drop_text_index

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from billing.search, so this revision stays what it was when the code moves.
INDEXES = (
    TextIndex("invoices", ("number",)),
    TextIndex("invoice_lines", ("description",), key="invoice_id"),
    TextIndex("estimates", ("number", "name")),
    TextIndex("estimate_lines", ("description",), key="estimate_id"),
    TextIndex("payments", ("method", "charge_id")),
)


def upgrade() -> None:
    for index in INDEXES:
        create_text_index(op, index)


def downgrade() -> None:
    for index in reversed(INDEXES):
        drop_text_index(op, index)
