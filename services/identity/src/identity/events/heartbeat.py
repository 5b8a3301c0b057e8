"""The session events' heartbeat (issue 16): every second, on core NATS, how far identity's outbox is behind.

The gateways keep resolved sessions long only while SessionsChanged events reach them promptly. Those events leave
through the outbox, so a gateway connected to NATS cannot tell on its own that identity is cut off from NATS and its
events are waiting. Each identity replica therefore publishes `SessionsHeartbeat` every second (outside `portal.>`,
so JetStream keeps none of them) with the age of the oldest unpublished outbox row; a gateway that hears none for a
few seconds, or hears of a backlog, falls back to the short TTL (gateway/clients/session_events.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from nats.aio.client import Client as NatsClient

from portal.identity.v1 import events_pb2
from servicekit.db import Database
from servicekit.outbox_tables import outbox

log = logging.getLogger(__name__)

SUBJECT = "identity.sessions.heartbeat"
INTERVAL_SECONDS = 1.0


async def backlog_seconds(db: Database) -> float:
    async with db.sessions() as s:
        oldest = await s.scalar(sa.select(sa.func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None)))
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - oldest).total_seconds())


async def run(db: Database, nc: NatsClient, interval: float = INTERVAL_SECONDS) -> None:
    while True:
        try:
            beat = events_pb2.SessionsHeartbeat(outbox_backlog_seconds=await backlog_seconds(db))
            if nc.is_connected:
                await nc.publish(SUBJECT, beat.SerializeToString())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a missed beat only makes the gateways careful for a while
            log.warning("session heartbeat: %s", exc.__class__.__name__)
        await asyncio.sleep(interval)
