"""A PostgreSQL server that cannot be reached is Unavailable (a 503 at the gateway), not an unhandled error (a 502):
the driver raises a bare OSError for a missing socket or a refused connection, which SQLAlchemy does not wrap."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from servicekit.db import Database
from servicekit.errors import Unavailable


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@/portal?host=/nonexistent-socket-dir",
        f"postgresql+asyncpg://postgres@127.0.0.1:{_refused_port()}/portal",
    ],
    ids=["socket-gone", "refused"],
)
async def test_an_unreachable_server_is_unavailable_in_a_unit_of_work_and_a_read(url: str) -> None:
    db = Database(url)
    try:
        with pytest.raises(Unavailable, match="unreachable"):
            async with db.unit_of_work() as session:
                await session.execute(sa.text("SELECT 1"))
        with pytest.raises(Unavailable, match="unreachable"):
            async with db.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await db.dispose()
