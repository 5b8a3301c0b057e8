"""Knowledge-base articles with full-text search (SPEC T9) and announcements (T10).

Search: on SQLite an FTS5 table `kb_articles_fts` (article id unindexed, title, body) that triggers keep in
step with `kb_articles`; on PostgreSQL a generated tsvector column `search_vector` (title weighted A, body B,
the 'simple' configuration so French and English text are treated alike) with a GIN index.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PUBLISHED = sa.text("published")

SQLITE_FTS = [
    # remove_diacritics 2: "ete" finds "été"; the id is stored, not indexed.
    "CREATE VIRTUAL TABLE kb_articles_fts USING fts5("
    "article_id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts (article_id, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF title, body ON kb_articles BEGIN "
    "DELETE FROM kb_articles_fts WHERE article_id = old.id; "
    "INSERT INTO kb_articles_fts (article_id, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN "
    "DELETE FROM kb_articles_fts WHERE article_id = old.id; END",
]

POSTGRES_FTS = [
    "ALTER TABLE kb_articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(body, '')), 'B')) STORED",
    "CREATE INDEX ix_kb_articles_search_vector ON kb_articles USING gin (search_vector)",
]


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_articles"),
    )
    op.create_index(
        "ix_kb_articles_published_at",
        "kb_articles",
        ["published_at", "id"],
        sqlite_where=PUBLISHED,
        postgresql_where=PUBLISHED,
    )
    op.create_index("ix_kb_articles_updated", "kb_articles", ["updated_at", "id"])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS if dialect == "postgresql" else []:
        op.execute(statement)

    op.create_table(
        "announcements",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_announcements"),
    )
    op.create_index("ix_announcements_created", "announcements", ["created_at", "id"])


def downgrade() -> None:
    op.drop_table("announcements")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS kb_articles_fts")  # its triggers go with kb_articles
    op.drop_table("kb_articles")
