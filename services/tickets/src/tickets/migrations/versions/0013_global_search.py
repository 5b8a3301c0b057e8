"""Global search (SPEC H4): full-text indexes over tickets (subject, description) and comments (body), the
knowledge base's own index (0006) being reused as it is.

PostgreSQL: expression GIN indexes over the tsvectors that tickets/search.py queries (the 'simple'
configuration, so French and English words are treated alike; a ticket's subject weighs A, its description B).
An expression index covers the rows already there, so nothing needs backfilling.

SQLite: FTS5 tables kept in step by triggers. `tickets_fts` is an external-content table over `tickets` keyed by
the ticket's number (an integer that never changes; a rowid of a table without an INTEGER PRIMARY KEY may change
on VACUUM, so it is not used); `comments_fts` holds the comment id (stored, not indexed) with the body, since
comments have no such integer key. Both are filled from the rows already there.

Every statement is a constant of this module: nothing from outside reaches them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Kept in step with tickets/search.py: the planner uses an expression index only for the same expression.
TICKET_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, subject), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, description), 'B'))"
)
COMMENT_VECTOR = "to_tsvector('simple'::regconfig, body)"

POSTGRES = [
    f"CREATE INDEX ix_tickets_fulltext ON tickets USING gin ({TICKET_VECTOR})",
    f"CREATE INDEX ix_comments_fulltext ON comments USING gin (({COMMENT_VECTOR}))",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_tickets_fulltext", "DROP INDEX IF EXISTS ix_comments_fulltext"]

TOKENIZE = "tokenize = 'unicode61 remove_diacritics 2'"
SQLITE = [
    "CREATE VIRTUAL TABLE tickets_fts USING fts5("
    f"subject, description, content = 'tickets', content_rowid = 'number', {TOKENIZE})",
    "CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN "
    "INSERT INTO tickets_fts (rowid, subject, description) VALUES (new.number, new.subject, new.description); END",
    "CREATE TRIGGER tickets_fts_update AFTER UPDATE OF subject, description ON tickets BEGIN "
    "INSERT INTO tickets_fts (tickets_fts, rowid, subject, description) "
    "VALUES ('delete', old.number, old.subject, old.description); "
    "INSERT INTO tickets_fts (rowid, subject, description) VALUES (new.number, new.subject, new.description); END",
    "CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN "
    "INSERT INTO tickets_fts (tickets_fts, rowid, subject, description) "
    "VALUES ('delete', old.number, old.subject, old.description); END",
    "INSERT INTO tickets_fts (tickets_fts) VALUES ('rebuild')",
    f"CREATE VIRTUAL TABLE comments_fts USING fts5(comment_id UNINDEXED, body, {TOKENIZE})",
    "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
    "INSERT INTO comments_fts (comment_id, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER comments_fts_update AFTER UPDATE OF body ON comments BEGIN "
    "DELETE FROM comments_fts WHERE comment_id = old.id; "
    "INSERT INTO comments_fts (comment_id, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN "
    "DELETE FROM comments_fts WHERE comment_id = old.id; END",
    "INSERT INTO comments_fts (comment_id, body) SELECT id, body FROM comments",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS tickets_fts_insert",
    "DROP TRIGGER IF EXISTS tickets_fts_update",
    "DROP TRIGGER IF EXISTS tickets_fts_delete",
    "DROP TABLE IF EXISTS tickets_fts",
    "DROP TRIGGER IF EXISTS comments_fts_insert",
    "DROP TRIGGER IF EXISTS comments_fts_update",
    "DROP TRIGGER IF EXISTS comments_fts_delete",
    "DROP TABLE IF EXISTS comments_fts",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES if dialect == "postgresql" else SQLITE if dialect == "sqlite" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_DOWN if dialect == "postgresql" else SQLITE_DOWN if dialect == "sqlite" else []:
        op.execute(statement)
