"""The migrations build exactly the schema the models describe, and undo cleanly, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from assets.db import Base
from assets.main import MIGRATIONS_DIR
from servicekit.migrations import alembic_config, upgrade
from servicekit.search import is_index_object


async def test_migrated_schema_matches_the_models(db):
    def diff(conn):
        # The kit's outbox and inbox are created by the migration but are not assets models.
        def ours(name, type_, _parent):
            # The search indexes (FTS5 tables, GIN expression indexes) are not models either.
            kit = type_ == "table" and name in {"outbox", "inbox", "alembic_version"}
            return not (kit or is_index_object(name))

        return compare_metadata(MigrationContext.configure(conn, opts={"include_name": ours}), Base.metadata)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_upgrade_is_idempotent_and_downgrade_removes_everything(db, db_url):
    await upgrade(MIGRATIONS_DIR, db_url)
    await asyncio.to_thread(command.downgrade, alembic_config(MIGRATIONS_DIR, db_url), "base")
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
