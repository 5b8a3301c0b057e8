"""`Database.read()`: a plain connection for Core reads that never commits, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from servicekit.db import Database

NOTES = sa.Table("notes", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))


async def test_read_sees_committed_rows_and_writes_nothing(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(NOTES.metadata.create_all)
            await conn.execute(NOTES.insert(), [{"id": 1, "body": "kept"}])

        async with db.read() as conn:
            assert (await conn.execute(sa.select(NOTES.c.body))).scalars().all() == ["kept"]
            # A write on a read connection is rolled back when the block ends: reads never commit.
            await conn.execute(NOTES.insert(), [{"id": 2, "body": "dropped"}])

        async with db.read() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(NOTES))).scalar_one() == 1
        # The connection went back to the pool: a unit of work can still write.
        async with db.unit_of_work() as session:
            await session.execute(NOTES.insert(), [{"id": 3, "body": "written"}])
        async with db.read() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(NOTES))).scalar_one() == 2
    finally:
        await db.dispose()


async def test_read_releases_the_connection_when_the_block_raises(db_url: str) -> None:
    db = Database(db_url)
    try:
        for _ in range(3):  # SQLite's pool holds one connection: a leak would hang the second round
            try:
                async with db.read() as conn:
                    await conn.execute(sa.text("SELECT 1"))
                    raise LookupError("the caller's own error")
            except LookupError:
                pass
        async with db.read() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()
