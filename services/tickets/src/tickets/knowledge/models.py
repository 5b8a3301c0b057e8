"""Knowledge-base articles (SPEC T9) and portal announcements (T10): operator-wide content, no customer column.

Full-text search is not in these models: on SQLite an FTS5 table `kb_articles_fts` kept in step by triggers,
on PostgreSQL a generated `search_vector` column with a GIN index; migration 0006 creates whichever the
database has, and knowledge/service.py queries it by dialect.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tickets.db import Base, UtcDateTime


class Article(Base):
    __tablename__ = "kb_articles"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    # Only published articles reach the portal; unpublishing hides an article without losing it.
    published: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # When it was (last) published: the portal lists newest first by it. None while never published.
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        sa.Index(
            "ix_kb_articles_published_at",
            "published_at",
            "id",
            sqlite_where=sa.text("published"),
            postgresql_where=sa.text("published"),
        ),
        sa.Index("ix_kb_articles_updated", "updated_at", "id"),
    )


class Announcement(Base):
    """A message on every portal user's home page while active and between its start and end (T10)."""

    __tablename__ = "announcements"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    # None: from the start / without end.
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (sa.Index("ix_announcements_created", "created_at", "id"),)
