"""A fresh database with a service's migrations applied, copied from one migrated once per session.

Running Alembic for every test cost 0.1-0.3 s on SQLite and more on PostgreSQL (it loads every migration script
again, and runs each DDL statement), and over a thousand service tests did it. The copy is the same schema, made by
the same migrations: SQLite copies the migrated file, PostgreSQL makes the database with the migrated one as its
TEMPLATE. The migrations themselves still run from scratch in each service's test_migrations.py, in
libs/testkit/tests/test_databases.py (which also checks a copy against them) and in every real process the other
tests start.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

from servicekit import migrations

SQLITE_PREFIX = "sqlite+aiosqlite:///"


class MigratedTemplates:
    """`await templates.apply(migrations_dir, db_url)`: the empty database at `db_url` (a `db_url` fixture's, or
    any fresh one) ends as `servicekit.migrations.upgrade(migrations_dir, db_url)` would leave it."""

    def __init__(self, root: Path) -> None:
        self._root = root
        # (migrations dir, "sqlite" or the PostgreSQL server's socket and port) -> template file or database name
        self._templates: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()

    async def apply(self, migrations_dir: Path, db_url: str) -> None:
        if db_url.startswith(SQLITE_PREFIX):
            target = Path(db_url.removeprefix(SQLITE_PREFIX))
            if await asyncio.to_thread(target.exists):  # not a fresh database: migrate it as a service would
                await migrations.upgrade(migrations_dir, db_url)
                return
            template = await self._template(migrations_dir, db_url)
            await asyncio.to_thread(shutil.copyfile, template, target)
        elif db_url.startswith("postgresql+asyncpg://"):
            template = await self._template(migrations_dir, db_url)
            await _recreate(db_url, template)
        else:
            await migrations.upgrade(migrations_dir, db_url)

    async def _template(self, migrations_dir: Path, db_url: str) -> str:
        sqlite = db_url.startswith(SQLITE_PREFIX)
        where = "sqlite" if sqlite else urlsplit(db_url).query
        key = (str(migrations_dir), where)
        async with self._lock:
            if key not in self._templates:
                tag = hashlib.sha1(key[0].encode()).hexdigest()[:10]  # noqa: S324 - a name, not security
                if sqlite:
                    path = self._root / f"template-{tag}.db"
                    await migrations.upgrade(migrations_dir, SQLITE_PREFIX + str(path))
                    self._templates[key] = str(path)
                else:
                    name = f"template_{tag}"
                    await _admin(db_url, f'CREATE DATABASE "{name}"')
                    parts = urlsplit(db_url)
                    await migrations.upgrade(migrations_dir, parts._replace(path="/" + name).geturl())
                    self._templates[key] = name
            return self._templates[key]


async def _recreate(db_url: str, template: str) -> None:
    """Drop the (empty, unused) database at `db_url` and make it again as a copy of `template`."""
    name = urlsplit(db_url).path.lstrip("/")
    await _admin(db_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


async def _admin(db_url: str, *statements: str) -> None:
    """Run statements on the maintenance database of the server that `db_url` (asyncpg over its socket) names."""
    parts = urlsplit(db_url)
    query = parse_qs(parts.query)
    conn = await asyncpg.connect(
        host=query["host"][0],
        port=int(query.get("port", ["5432"])[0]),
        user=parts.username or "postgres",
        database="postgres",
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()
