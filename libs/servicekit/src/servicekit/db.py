"""Async SQLAlchemy engine per service and the unit of work that owns commit and rollback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect, event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from servicekit import sqlite_inline
from servicekit.errors import Unavailable

_SIGNALS = "servicekit.signals"


def signal_after_commit(session: AsyncSession, name: str) -> None:
    """Ask for the `name` listeners to run once this session's transaction commits.

    Background loops (the outbox relay, a mailer) wake on their own signal only, so read-only units of
    work wake nobody.
    """
    session.info.setdefault(_SIGNALS, set()).add(name)


@asynccontextmanager
async def _unavailable_when_lost() -> AsyncIterator[None]:
    try:
        yield
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("the database connection was lost; retry") from exc
        raise


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    cur = dbapi_conn.cursor()
    # WAL lets readers run while one writer commits; busy_timeout queues writers instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


# SQLSTATE classes and codes a server answers while it cannot take connections: 08 connection exception, 57P01-03
# shutting down, crashed, starting up (a restart), 53300 too many connections.
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def _connect_or_unavailable(dialect: Dialect, _record, cargs, cparams):  # noqa: ANN001, ANN202
    """Open a connection; a server that is down or restarting is Unavailable (UNAVAILABLE, so a 503 at the gateway)
    rather than an unhandled error (INTERNAL, a 502). The driver raises a bare OSError when the socket is gone or
    refused, which SQLAlchemy passes through unwrapped, and a DBAPI error while the server shuts down or starts."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise Unavailable("the database is unreachable; retry") from exc
    except dialect.loaded_dbapi.Error as exc:
        if str(getattr(exc, "sqlstate", "") or "").startswith(_UNREACHABLE_STATES):
            raise Unavailable("the database is not accepting connections; retry") from exc
        raise


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = make_url(url).database or ":memory:"
        # One in-loop connection: see servicekit.sqlite_inline for why.
        engine = create_async_engine(url, async_creator=sqlite_inline.creator(path), pool_size=1, max_overflow=0)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
    return engine


class Database:
    """The service's engine and session factory; `unit_of_work()` is the only place that commits."""

    def __init__(self, url: str, *, engine: AsyncEngine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._after_commit: dict[str, list[Callable[[], None]]] = {}

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def on_commit(self, name: str, callback: Callable[[], None]) -> None:
        """Run `callback` after each commit of a unit of work that raised signal `name`."""
        self._after_commit.setdefault(name, []).append(callback)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit when the block succeeds, roll back when it raises."""
        async with self.sessions() as session:
            try:
                yield session
                signals = session.info.pop(_SIGNALS, ())
                await session.commit()
            except DBAPIError as exc:
                await session.rollback()
                if exc.connection_invalidated:
                    raise Unavailable("the database connection was lost; retry") from exc
                raise
            except BaseException:
                await session.rollback()
                raise
        for name in signals:
            for cb in self._after_commit.get(name, ()):
                cb()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads only: Core selects, no ORM session, rolled back (never committed) at the end.

        Hot list reads (the portal home calls one per service) use it: measured on SQLite, an ORM unit of work
        costs ~600 µs of CPU for a ten-row page and a Core read on a plain connection ~200 µs.
        """
        if not self.is_sqlite:
            async with self.engine.connect() as conn:
                async with _unavailable_when_lost():
                    yield conn
            return
        # SQLite's connection is in-loop (servicekit.sqlite_inline): closing it never suspends, so it is closed
        # here rather than by the context manager, which runs close() in a task of its own (shielded from
        # cancellation, for network drivers) — two extra event-loop turns that cost a third of a small read.
        conn = await self.engine.connect()
        try:
            async with _unavailable_when_lost():
                yield conn
        finally:
            await conn.close()

    async def dispose(self) -> None:
        await self.engine.dispose()


async def wait_for_database(db: Database, attempts: int = 30) -> None:
    """Retry the first connection for a while: in Kubernetes the database may start after us."""
    from sqlalchemy import text

    for i in range(attempts):
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        except (OSError, DBAPIError, Unavailable):
            if i == attempts - 1:
                raise
            await asyncio.sleep(1)


# Named constraints let Alembic alter them later, including SQLite's batch (copy-and-move) migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite (which keeps no offset) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)
