from collections.abc import Callable

import asyncpg
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from portal_testkit import EmbeddedPostgres

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
