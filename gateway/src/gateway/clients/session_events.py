"""Identity's session events from NATS, for the principal cache (edge/sessions.py, issue 16).

Every gateway process subscribes on its own (core NATS, no queue group, no durable consumer: every replica must
see every event) to identity's SessionsChanged, CustomerUpdated and CustomerDeleted, and drops the cached
principals they name. The cache keeps answers long only while this subscription is known to be live:

- `trust()` once the subscription is registered with the server (a flush after SUB; nats-py sends the SUBs
  again on reconnection, and the flush waits for them) AND identity's heartbeat (`identity.sessions.heartbeat`,
  every second, services/identity/.../events/heartbeat.py) has arrived within STALE_SECONDS saying its outbox is
  less than MAX_BACKLOG_SECONDS behind;
- `distrust()` when the connection is lost, while it cannot be made, when identity's heartbeat stops (identity
  down or cut off from NATS: its events would wait in its outbox) or reports a backlog: answers are then kept the
  short TTL, and the entries already cached are cut to it, because events published meanwhile are never
  delivered to a core subscription, or are late;
- `shorten()` when the client reports a slow consumer (messages were dropped) or a message cannot be read.

Identity writes each event in the same transaction as the change (its outbox) and publishes it right after the
commit; a sign-out on one replica reaches every other one within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from portal.identity.v1 import events_pb2
from servicekit.subjects import subject

log = logging.getLogger(__name__)

SESSIONS_CHANGED = subject("identity", "sessions_changed")
CUSTOMER_UPDATED = subject("identity", "customer_updated")
CUSTOMER_DELETED = subject("identity", "customer_deleted")
# A subscription's pending limit; beyond it the client drops messages and reports a slow consumer.
PENDING_MESSAGES = 100_000
RETRY_SECONDS = 1.0
HEARTBEAT = "identity.sessions.heartbeat"
# Identity beats every second: three missed beats, or an outbox this far behind, and the long TTL is off.
STALE_SECONDS = 3.0
MAX_BACKLOG_SECONDS = 2.0
WATCH_SECONDS = 0.5


class Invalidatable(Protocol):
    def invalidate(
        self,
        reason: str,
        *,
        session_ids: tuple[str, ...] | list[str] = (),
        user_ids: tuple[str, ...] | list[str] = (),
        customer_ids: tuple[str, ...] | list[str] = (),
        all_sessions: bool = False,
    ) -> int: ...

    def trust(self) -> None: ...

    def distrust(self, reason: str = "connection") -> None: ...

    def shorten(self) -> None: ...

    @property
    def trusted(self) -> bool: ...


class SessionEvents:
    """The subscription of one gateway process; `run()` keeps it up until cancelled."""

    def __init__(self, nats_url: str, cache: Invalidatable, *, name: str = "gateway") -> None:
        self.nats_url = nats_url
        self._cache = cache
        self._name = name
        self._nc = None
        self._live = False  # the subscription is registered with a connected server
        self._last_beat = 0.0  # monotonic time of identity's last heartbeat saying its outbox is current

    def _judge(self) -> None:
        """Long TTL only while the subscription is live and identity's heartbeat is fresh."""
        healthy = self._live and time.monotonic() - self._last_beat < STALE_SECONDS
        if healthy and not self._cache.trusted:
            self._cache.trust()
            log.info("session events: live; principals are cached for the long TTL")
        elif not healthy and self._cache.trusted:
            self._cache.distrust("identity_silent" if self._live else "connection")
            log.warning(
                "session events: %s; principals are cached for the short TTL",
                "no current heartbeat from identity" if self._live else "NATS connection lost",
            )

    async def run(self) -> None:
        import nats
        from nats.errors import SlowConsumerError

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, SlowConsumerError):
                log.warning("session events: messages dropped (slow consumer); cached principals cut to the short TTL")
                self._cache.shorten()
                self._cache.invalidate("missed")
            else:
                log.warning("session events: NATS: %s", exc.__class__.__name__)

        async def on_disconnect() -> None:
            self._live = False
            self._last_beat = 0.0  # a beat from before the cut says nothing about what was missed during it
            self._judge()

        async def on_reconnect() -> None:
            nc = self._nc
            if nc is None:
                return
            try:
                await nc.flush(timeout=2)
            except Exception:  # noqa: BLE001 - lost again at once: the next reconnect tries again
                return
            self._live = True
            self._judge()

        while True:
            try:
                nc = await nats.connect(
                    servers=[self.nats_url],
                    name=f"{self._name}-sessions",
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=on_error,
                    disconnected_cb=on_disconnect,
                    reconnected_cb=on_reconnect,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - not reachable yet: the short TTL until it is
                log.warning("session events: NATS not reachable (%s); retrying", exc.__class__.__name__)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._nc = nc
            try:
                for subj in (SESSIONS_CHANGED, CUSTOMER_UPDATED, CUSTOMER_DELETED):
                    await nc.subscribe(subj, cb=self._on_message, pending_msgs_limit=PENDING_MESSAGES)
                await nc.subscribe(HEARTBEAT, cb=self._on_heartbeat)
                await nc.flush(timeout=2)
                self._live = True
                while True:  # the client reconnects by itself; cancelled at shutdown
                    self._judge()
                    await asyncio.sleep(WATCH_SECONDS)
            finally:
                self._live = False
                if self._cache.trusted:
                    self._cache.distrust()
                self._nc = None
                with contextlib.suppress(Exception):
                    await nc.close()

    async def _on_heartbeat(self, msg) -> None:  # noqa: ANN001 - nats.aio.msg.Msg
        try:
            beat = events_pb2.SessionsHeartbeat.FromString(msg.data)
        except Exception:  # noqa: BLE001 - an unreadable beat is no beat
            return
        if beat.outbox_backlog_seconds < MAX_BACKLOG_SECONDS:
            self._last_beat = time.monotonic()
            if self._live and not self._cache.trusted:
                self._judge()
        else:
            self._last_beat = 0.0
            self._judge()

    async def _on_message(self, msg) -> None:  # noqa: ANN001 - nats.aio.msg.Msg
        try:
            if msg.subject == SESSIONS_CHANGED:
                event = events_pb2.SessionsChanged.FromString(msg.data)
                self._cache.invalidate(
                    event.reason or "unknown",
                    session_ids=list(event.session_ids),
                    user_ids=list(event.user_ids),
                    customer_ids=list(event.customer_ids),
                    all_sessions=event.all_sessions,
                )
            elif msg.subject == CUSTOMER_UPDATED:
                # The name and remote access shown in the header; archiving; a new parent (whose users now reach
                # this customer through "All").
                updated = events_pb2.CustomerUpdated.FromString(msg.data)
                ids = [i for i in (updated.customer_id, updated.parent_id) if i]
                self._cache.invalidate("customer_updated", customer_ids=ids)
            elif msg.subject == CUSTOMER_DELETED:
                deleted = events_pb2.CustomerDeleted.FromString(msg.data)
                self._cache.invalidate("customer_deleted", customer_ids=[deleted.customer_id])
        except Exception:  # noqa: BLE001 - an unreadable event may have been about anyone
            log.warning("session events: unreadable event on %s; cached principals cut to the short TTL", msg.subject)
            self._cache.shorten()
