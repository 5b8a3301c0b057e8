"""Alembic per service: run migrations programmatically, and the shared body of every env.py.

A serving process applies its migrations at start in a child process (`upgrade_in_child`, which runs this module):
alembic, Mako and the SQLAlchemy dialects that alembic's DDL modules import (MS SQL, MySQL, Oracle) are ~8 MB that
a service would otherwise hold for its whole life to run migrations once (issue 16: each process under 150 MB). So
alembic is imported inside the functions that use it, and nothing a serving process imports loads it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit import outbox_tables
from servicekit.logs import setup_logging

if TYPE_CHECKING:
    from alembic.config import Config

# The child reads the database URL from its environment, not from its command line, where `ps` would show it.
URL_VARIABLE = "SERVICEKIT_MIGRATE_DATABASE_URL"


class MigrationsFailed(RuntimeError):
    pass


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    # '%' would be read as interpolation by configparser.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


async def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Apply migrations in this process; runs in a thread because env.py drives its own event loop."""
    from alembic import command

    await asyncio.to_thread(command.upgrade, alembic_config(migrations_dir, database_url), revision)


async def upgrade_in_child(migrations_dir: Path, database_url: str, *, service: str, log_level: str = "INFO") -> None:
    """Apply migrations up to head in a child process (see the module's docstring), which logs as `service` to the
    same stdout; MigrationsFailed when it does not succeed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "servicekit.migrations",
        service,
        log_level,
        str(migrations_dir),
        env={**os.environ, URL_VARIABLE: database_url},
        stdin=asyncio.subprocess.DEVNULL,
    )
    code = await proc.wait()
    if code != 0:
        raise MigrationsFailed(f"{service}: applying the migrations failed (exit code {code}); its log lines are above")


def run_env(target_metadata: sa.MetaData | None = None) -> None:
    """The whole of a service's migrations/env.py: online migrations over the async engine."""
    from alembic import context

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


def _child(argv: list[str]) -> None:
    """`python -m servicekit.migrations SERVICE LOG_LEVEL MIGRATIONS_DIR`, the database URL in URL_VARIABLE."""
    service, log_level, migrations_dir = argv
    setup_logging(service, log_level)
    asyncio.run(upgrade(Path(migrations_dir), os.environ[URL_VARIABLE]))


if __name__ == "__main__":
    _child(sys.argv[1:])
