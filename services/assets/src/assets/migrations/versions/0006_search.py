"""Global search (SPEC H4): full-text indexes over assets (name, serial number, type, notes) and document file
names — GIN expression indexes on PostgreSQL, external-content FTS5 tables kept by triggers on SQLite
(servicekit.search). Rows already there are indexed here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

from servicekit.search import TextIndex, create_text_index, drop_text_index

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from assets.search, so this revision stays what it was when the code moves.
INDEXES = (
    TextIndex("assets", ("name", "serial_number", "asset_type", "notes")),
    TextIndex("documents", ("filename",)),
)


def upgrade() -> None:
    for index in INDEXES:
        create_text_index(op, index)


def downgrade() -> None:
    for index in reversed(INDEXES):
        drop_text_index(op, index)
