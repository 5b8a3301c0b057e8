"""Alembic per service: run migrations programmatically, and the shared body of every env.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit import outbox_tables


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    # '%' would be read as interpolation by configparser.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


async def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Apply migrations; runs in a thread because env.py drives its own event loop."""
    await asyncio.to_thread(command.upgrade, alembic_config(migrations_dir, database_url), revision)


def run_env(target_metadata: sa.MetaData | None = None) -> None:
    """The whole of a service's migrations/env.py: online migrations over the async engine."""
    url = context.config.get_main_option("sqlalchemy.url")

    def do_run(connection: sa.Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=sa.pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(main())


def create_kit_tables(op) -> None:  # noqa: ANN001 - alembic.op
    """Create the outbox and inbox tables; called from each service's first migration."""
    op.create_table("outbox", *outbox_tables.outbox_columns())
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "created_at"])
    op.create_table("inbox", *outbox_tables.inbox_columns())
