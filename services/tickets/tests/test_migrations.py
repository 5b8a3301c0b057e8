"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL, and run twice safely."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit import migrations
from tickets.db import Base
from tickets.knowledge import models as knowledge_models  # noqa: F401 - registers the tables
from tickets.main import MIGRATIONS
from tickets.tickets import models  # noqa: F401 - registers the tables

KIT_TABLES = {"outbox", "inbox", "alembic_version"}
# Full-text search lives outside the models (migration 0006 builds it per dialect): SQLite's FTS5 table and
# the shadow tables FTS5 makes for it, PostgreSQL's generated tsvector column and its GIN index.
FTS_TABLE_PREFIXES = ("kb_articles_fts", "tickets_fts", "comments_fts")
FTS_COLUMNS_AND_INDEXES = {"search_vector", "ix_kb_articles_search_vector"}
# Migration 0007's pg_trgm indexes of ticket search exist on PostgreSQL only (see test_search.py).
FTS_COLUMNS_AND_INDEXES |= {"ix_tickets_search_trgm", "ix_tickets_private_trgm"}
# Migration 0013's global-search indexes: PostgreSQL expression indexes, SQLite FTS5 tables (test_global_search.py).
FTS_COLUMNS_AND_INDEXES |= {"ix_tickets_fulltext", "ix_comments_fulltext"}


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    if type_ == "table" and name is not None and (name in KIT_TABLES or name.startswith(FTS_TABLE_PREFIXES)):
        return False
    return not (type_ in ("column", "index") and reflected and name in FTS_COLUMNS_AND_INDEXES)


async def inspect(url: str):  # noqa: ANN201
    engine = create_async_engine(url, poolclass=sa.pool.NullPool)
    try:
        async with engine.connect() as conn:

            def read(c: sa.Connection) -> tuple[list, set[str], set[str]]:
                ctx = MigrationContext.configure(c, opts={"include_object": _include, "compare_type": True})
                insp = sa.inspect(c)
                tables = set(insp.get_table_names())
                indexes = {ix["name"] for ix in insp.get_indexes("tickets")} if "tickets" in tables else set()
                return compare_metadata(ctx, Base.metadata), tables, indexes

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(db_url: str) -> None:
    await migrations.upgrade(MIGRATIONS, db_url)
    await migrations.upgrade(MIGRATIONS, db_url)  # a second start changes nothing
    diffs, tables, indexes = await inspect(db_url)
    assert diffs == []
    assert tables >= {"tickets", "counters", "outbox", "inbox"}
    assert indexes >= {
        "ix_tickets_customer_created",
        "ix_tickets_customer_open_created",
        "ix_tickets_customer_contact_created",
        "ix_tickets_created",
    }


async def test_downgrade_and_upgrade_again(db_url: str) -> None:
    await migrations.upgrade(MIGRATIONS, db_url)
    await asyncio.to_thread(command.downgrade, migrations.alembic_config(MIGRATIONS, db_url), "base")
    _, tables, _ = await inspect(db_url)
    assert tables <= {"alembic_version"}
    await migrations.upgrade(MIGRATIONS, db_url)
    _, tables, _ = await inspect(db_url)
    assert "tickets" in tables


async def test_a_starting_service_migrates_in_a_child_process(db_url: str) -> None:
    """servicekit.app.serve applies the migrations in a child, so alembic never loads into the serving process."""
    await migrations.upgrade_in_child(MIGRATIONS, db_url, service="tickets")
    await migrations.upgrade_in_child(MIGRATIONS, db_url, service="tickets")  # a second start changes nothing
    diffs, tables, _ = await inspect(db_url)
    assert diffs == []
    assert "tickets" in tables


async def test_a_child_that_fails_to_migrate_fails_the_start(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tickets.db'}"
    with pytest.raises(migrations.MigrationsFailed, match="exit code 1"):
        await migrations.upgrade_in_child(tmp_path / "no-migrations-here", url, service="tickets")
