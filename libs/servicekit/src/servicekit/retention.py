"""Retention of the kit's tables: published outbox rows and old inbox (dedup) rows are deleted in batches.

An outbox row is only needed until the relay has published it (kept `outbox_retention_days` more, to read
back what was sent); an inbox row only while its event can still be delivered again, which JetStream does
within minutes (max_deliver × ack_wait) — `inbox_retention_days` is far longer than that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from servicekit.db import Database
from servicekit.metrics import KitMetrics
from servicekit.outbox_tables import inbox, outbox
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Retention:
    db: Database
    metrics: KitMetrics
    outbox_keep: timedelta = timedelta(days=1)
    inbox_keep: timedelta = timedelta(days=7)
    interval: float = 3600.0
    batch: int = 1000

    @classmethod
    def from_settings(cls, db: Database, settings: ServiceSettings, metrics: KitMetrics) -> Retention:
        return cls(
            db=db,
            metrics=metrics,
            outbox_keep=timedelta(days=settings.outbox_retention_days),
            inbox_keep=timedelta(days=settings.inbox_retention_days),
            interval=settings.retention_interval_seconds,
            batch=settings.retention_batch,
        )

    async def run(self) -> None:
        """Prune once shortly after start, then every `interval` seconds; a failure is logged and retried."""
        await asyncio.sleep(min(60.0, self.interval))
        while True:
            try:
                outbox_rows, inbox_rows = await self.prune_once()
                if outbox_rows or inbox_rows:
                    log.info("retention: deleted %d published outbox rows and %d inbox rows", outbox_rows, inbox_rows)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: the next round catches up
                log.warning("retention: %s; next try in %.0fs", exc.__class__.__name__, self.interval)
            await asyncio.sleep(self.interval)

    async def prune_once(self, now: datetime | None = None) -> tuple[int, int]:
        """Delete every row past its window, `batch` rows per transaction; returns (outbox, inbox) counts."""
        now = now or datetime.now(UTC)
        outbox_cut = now - self.outbox_keep
        inbox_cut = now - self.inbox_keep
        outbox_rows = await self._drain(
            "outbox",
            lambda: sa.delete(outbox).where(
                outbox.c.id.in_(
                    sa.select(outbox.c.id)
                    .where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < outbox_cut)
                    .limit(self.batch)
                    .scalar_subquery()
                )
            ),
        )
        inbox_rows = await self._drain(
            "inbox",
            lambda: sa.delete(inbox).where(
                sa.tuple_(inbox.c.consumer, inbox.c.event_id).in_(
                    sa.select(inbox.c.consumer, inbox.c.event_id)
                    .where(inbox.c.handled_at < inbox_cut)
                    .limit(self.batch)
                )
            ),
        )
        return outbox_rows, inbox_rows

    async def _drain(self, table: str, statement) -> int:  # noqa: ANN001 - a factory of DELETE statements
        total = 0
        while True:
            async with self.db.sessions() as s, s.begin():
                deleted = (await s.execute(statement())).rowcount or 0
            total += deleted
            self.metrics.retention_pruned.labels(table).inc(deleted)
            if deleted < self.batch:
                return total
            await asyncio.sleep(0)  # let other work run between batches
