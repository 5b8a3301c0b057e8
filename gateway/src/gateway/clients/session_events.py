"""Identity's session events from NATS, for the principal cache (edge/sessions.py, issue 16).

Every gateway process subscribes on its own (core NATS, no queue group, no durable consumer: every replica must
see every event) to identity's SessionsChanged, CustomerUpdated and CustomerDeleted, and drops the cached
principals they name. The cache keeps answers long only while this subscription is known to be live:

- `trust()` once the subscription is registered with the server (a flush after SUB), at the start and after
  every reconnection (nats-py sends the SUBs again before its reconnected callback; the flush waits for them);
- `distrust()` when the connection is lost, and while it cannot be made: answers are then kept the short TTL,
  and the entries already cached are cut to it, because events published meanwhile are never delivered to a
  core subscription;
- `shorten()` when the client reports a slow consumer (messages were dropped) or a message cannot be read.

Identity writes each event in the same transaction as the change (its outbox) and publishes it right after the
commit; a sign-out on one replica reaches every other one within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from portal.identity.v1 import events_pb2
from servicekit.events import subject

log = logging.getLogger(__name__)

SESSIONS_CHANGED = subject("identity", "sessions_changed")
CUSTOMER_UPDATED = subject("identity", "customer_updated")
CUSTOMER_DELETED = subject("identity", "customer_deleted")
# A subscription's pending limit; beyond it the client drops messages and reports a slow consumer.
PENDING_MESSAGES = 100_000
RETRY_SECONDS = 1.0


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


class SessionEvents:
    """The subscription of one gateway process; `run()` keeps it up until cancelled."""

    def __init__(self, nats_url: str, cache: Invalidatable, *, name: str = "gateway") -> None:
        self.nats_url = nats_url
        self._cache = cache
        self._name = name
        self._nc = None

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
            self._cache.distrust()
            log.warning("session events: NATS disconnected; principals are cached for the short TTL")

        async def on_reconnect() -> None:
            nc = self._nc
            if nc is None:
                return
            try:
                await nc.flush(timeout=2)
            except Exception:  # noqa: BLE001 - lost again at once: the next reconnect tries again
                return
            self._cache.trust()
            log.info("session events: NATS reconnected; principals are cached for the long TTL again")

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
                await nc.flush(timeout=2)
                self._cache.trust()
                log.info("session events: subscribed; principals are cached for the long TTL")
                await asyncio.Event().wait()  # the client reconnects by itself; cancelled at shutdown
            finally:
                self._cache.distrust()
                self._nc = None
                with contextlib.suppress(Exception):
                    await nc.close()

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
