"""What the mailer (mail/mailer.py) and the pusher (push/sender.py) share: an outbox table sent by a background
loop, exactly once per row across replicas.

An outbox row has `id`, `sent_at`, `failed_at`, `next_attempt_at` and `locked_until`. A due row (neither sent nor
failed, its next attempt reached, not leased or its lease run out) is leased before it is sent, so two replicas
never send the same row, and no network call is made inside a unit of work. The loop wakes when a commit queued a
row (the database's on-commit signal) or every `poll` seconds, sends whole batches while they come full, then
measures the backlog; a database that is busy or away is tried again on the next round.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import Database

log = logging.getLogger(__name__)


def backoff(attempts: int, *, base: float = 5.0, cap: float) -> timedelta:
    """`base` seconds, twice that, four times … up to `cap` seconds between tries."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


class Sender(ABC):
    """The sending loop of one outbox: `send_pending` (one pass, how many rows it leased) and `measure_backlog` are
    the subclass's; the loop wakes when a commit raised `signal`, or every `poll_seconds`."""

    name = "sender"

    def __init__(self, db: Database, signal: str, *, poll_seconds: float, lease: timedelta, batch: int) -> None:
        self._db = db
        self._poll = poll_seconds
        self._lease = lease
        self._batch = batch
        self._wake = asyncio.Event()
        # A consumer that queued a row wakes the loop at its commit; the poll is only the fallback.
        db.on_commit(signal, self._wake.set)

    @abstractmethod
    async def send_pending(self, *, now: datetime | None = None) -> int:
        """Send what is due; how many were sent."""

    @abstractmethod
    async def measure_backlog(self) -> None:
        """Set the sender's backlog metric."""

    async def run(self) -> None:
        """Send until cancelled."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                while await self.send_pending() == self._batch:
                    pass
                await self.measure_backlog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database busy or away: try again on the next round
                log.warning("%s: %s; retrying", self.name, exc.__class__.__name__)
                await asyncio.sleep(self._poll)


async def lease_due(s: AsyncSession, model: Any, now: datetime, *, lease: timedelta, batch: int) -> list[Any]:  # noqa: ANN401
    """Lease up to `batch` due rows of the outbox `model` until `now + lease`, in the caller's unit of work; the
    rows leased, oldest due first."""
    due = (
        model.sent_at.is_(None),
        model.failed_at.is_(None),
        model.next_attempt_at <= now,
        or_(model.locked_until.is_(None), model.locked_until < now),
    )
    ids = list(
        (await s.scalars(select(model.id).where(*due).order_by(model.next_attempt_at, model.id).limit(batch))).all()
    )
    if not ids:
        return []
    # The conditions are checked again under the row lock: a row another replica leased meanwhile is skipped.
    leased = list(
        (
            await s.scalars(
                update(model)
                .where(model.id.in_(ids), *due)
                .values(locked_until=now + lease)
                .returning(model.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
    )
    if not leased:
        return []
    order = (model.next_attempt_at, model.id)
    return list((await s.scalars(select(model).where(model.id.in_(leased)).order_by(*order))).all())


async def backlog(db: Database, model: Any) -> int:  # noqa: ANN401
    """How many rows of the outbox `model` are neither sent nor failed."""
    async with db.sessions() as s:
        count = await s.scalar(
            select(func.count()).select_from(model).where(model.sent_at.is_(None), model.failed_at.is_(None))
        )
    return count or 0
