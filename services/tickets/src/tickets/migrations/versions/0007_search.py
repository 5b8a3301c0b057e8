"""Ticket search that holds at a million tickets (T4): what search looks in, kept in two lower-cased columns —
`search_text` (subject, description, public comments) and `private_text` (private notes, staff only) — and on
PostgreSQL pg_trgm GIN indexes, so `LIKE '%word%'` is answered from an index. The customer's search index also
holds customer_id (btree_gin), so a word that is common among other customers' tickets costs nothing to this
one's search. pg_trgm and btree_gin are trusted extensions: the database owner may create them. SQLite keeps
scanning, which is fine at its sizes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TRIGRAM_INDEXES = {
    # Portal searches always name the customer; staff searches use the search_text half alone.
    "ix_tickets_search_trgm": "customer_id, search_text gin_trgm_ops",
    "ix_tickets_private_trgm": "private_text gin_trgm_ops",
}


def _backfill(dialect: str) -> str:
    if dialect == "postgresql":
        agg = "string_agg(chr(10) || c.body, '' ORDER BY c.created_at, c.id)"
        newline = "chr(10)"
    else:
        agg = "group_concat(char(10) || c.body, '')"
        newline = "char(10)"
    comments = "(SELECT {agg} FROM comments c WHERE c.ticket_id = tickets.id AND {which})"
    public = comments.format(agg=agg, which="c.is_public")
    private = comments.format(agg=agg, which="NOT c.is_public")
    # Every part is a constant of this module: nothing from outside reaches the statement.
    search = f"lower(subject || {newline} || description || coalesce({public}, ''))"
    notes = f"lower(coalesce({private}, ''))"
    return f"UPDATE tickets SET search_text = {search}, private_text = {notes}"  # noqa: S608


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("private_text", sa.Text(), nullable=False, server_default=""))
    dialect = op.get_bind().dialect.name
    op.execute(_backfill(dialect))
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        for name, columns in TRIGRAM_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON tickets USING gin ({columns})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("private_text")
        batch.drop_column("search_text")
