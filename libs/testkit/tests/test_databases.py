from collections.abc import Callable
from pathlib import Path

import asyncpg
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from portal_testkit import EmbeddedPostgres
from portal_testkit.migrated import MigratedTemplates
from servicekit.migrations import upgrade
from tickets.main import MIGRATIONS as TICKETS_MIGRATIONS

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("body", String(50)))


async def _roundtrip(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(notes).values(body="hello"))
        async with engine.connect() as conn:
            return list((await conn.execute(select(notes.c.body))).scalars())
    finally:
        await engine.dispose()


async def test_db_url_is_a_fresh_database_on_both_backends(db_url: str) -> None:
    assert await _roundtrip(db_url) == ["hello"]


async def test_new_database_gives_separate_empty_databases(new_database: Callable[[str], str]) -> None:
    first, second = new_database("tickets"), new_database("tickets")
    assert first != second and first.startswith("postgresql+asyncpg://")
    assert await _roundtrip(first) == ["hello"]
    assert await _roundtrip(second) == ["hello"]


async def test_asyncpg_connects_through_the_unix_socket(postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(
        host=str(postgres.socket_dir), port=postgres.port, user="postgres", database="postgres"
    )
    try:
        assert (await conn.fetchval("select version()")).startswith("PostgreSQL 18")
    finally:
        await conn.close()


def _schema(sync_conn) -> dict:  # noqa: ANN001
    inspector = inspect(sync_conn)
    return {
        table: (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)),
            sorted(i["name"] for i in inspector.get_indexes(table)),
        )
        for table in inspector.get_table_names()
    }


async def _schema_and_version(url: str) -> tuple[dict, list[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            schema = await conn.run_sync(_schema)
            version = list((await conn.execute(text("select version_num from alembic_version"))).scalars())
        return schema, version
    finally:
        await engine.dispose()


async def test_migrated_copies_exactly_what_the_migrations_make(
    db_url: str, migrated: MigratedTemplates, new_database: Callable[[str], str], tmp_path: Path
) -> None:
    """The copy a service's `db` fixture gets is the schema that running its migrations makes, on both engines,
    and each copy is a database of its own."""
    direct = f"sqlite+aiosqlite:///{tmp_path / 'direct.db'}" if "sqlite" in db_url else new_database("direct")
    await upgrade(TICKETS_MIGRATIONS, direct)
    await migrated.apply(TICKETS_MIGRATIONS, db_url)
    made, copied = await _schema_and_version(direct), await _schema_and_version(db_url)
    assert copied == made and len(made[0]) >= 5 and made[1]

    second = f"sqlite+aiosqlite:///{tmp_path / 'second.db'}" if "sqlite" in db_url else new_database("second")
    await migrated.apply(TICKETS_MIGRATIONS, second)
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("delete from alembic_version"))
    finally:
        await engine.dispose()
    assert (await _schema_and_version(second))[1] == made[1]
