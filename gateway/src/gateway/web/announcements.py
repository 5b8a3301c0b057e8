"""Announcements on the portal home (SPEC T10), from a small per-process cache.

The home page makes one backend call per service per request; announcements are operator-wide, so rather than
asking the tickets service on every visit the gateway keeps the current list and refreshes it in the background
at most every REFRESH_SECONDS, using the token of the user whose visit found it stale (or, from the middle of that
period on, whose visit used it: the lease's renewal, so that pages kept with an unchanged list stay valid). The list
holds active announcements that have not ended; start and end are compared with the clock at every render, so a
scheduled one appears on time. A change by staff shows within about REFRESH_SECONDS (plus one visit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
import jinja2

from gateway.clients import read_cache
from gateway.clients.knowledge import Announcement, KnowledgeClient

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
# The read cache's version that moves when the list kept here changes; pages showing it note it (page cache).
AREA = "announcements"
# The refresh runs beside the page, never in front of it; it still must not linger.
REFRESH_DEADLINE = 2.0


class AnnouncementCache:
    def __init__(self, client: Callable[[], KnowledgeClient], *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._client = client
        self._refresh_seconds = refresh_seconds
        self._items: list[Announcement] = []
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # How long the list kept here is known to be current (pages showing it note it: read_cache.Lease).
        self.lease = read_cache.Lease(refresh_seconds)

    def showing(self, token: str, now: datetime | None = None) -> list[Announcement]:
        """What the portal shows now; schedules a refresh when the copy is stale (no waiting)."""
        if self._stale():
            # The list shown may be about to change: a page showing it is not kept (edge/page_cache.py).
            read_cache.spoil_page()
            if token and (self._task is None or self._task.done()):
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # rendered outside the event loop (a sync route in a worker thread): skip
                    loop = None
                if loop is not None:
                    self._task = loop.create_task(self.refresh(token))
        else:
            # From the middle of the period on, the next list is asked for beside the page (the lease's renewal),
            # so pages kept with this one stay valid while it is unchanged.
            self.lease.renew_ahead(token, time.monotonic())
            read_cache.note_page(AREA, self.lease)
        now = now or datetime.now(UTC)
        return [a for a in self._items if a.showing(now)]

    async def current(self, token: str) -> list[Announcement]:
        """What the portal shows now, refreshing first when the copy is stale (for the JSON API)."""
        if self._stale():
            await self.refresh(token)
        now = datetime.now(UTC)
        return [a for a in self._items if a.showing(now)]

    async def refresh(self, token: str) -> None:
        async with self._lock:
            if not self._stale():
                return  # another visit refreshed it while this one waited
            await self._ask(token)

    async def _renew(self, token: str) -> None:
        async with self._lock:
            if time.monotonic() < self.lease.until - self.lease.term / 2:
                return  # renewed while this one waited
            await self._ask(token)

    async def _ask(self, token: str) -> None:
        asked = time.monotonic()
        try:
            items = await self._client().current_announcements(token, deadline=REFRESH_DEADLINE)
            if items != self._items:
                # Pages kept with the old list (they noted this area) are not sent again.
                read_cache.CACHE.bump((), AREA, reason="announcements")
            self._items = items
            self.lease.renewed(asked, self._renew)
        except grpc.aio.AioRpcError as err:
            # Keep what we had and try again after the same pause, not on every visit; the lease is not renewed.
            self.lease.failed(asked)
            log.warning("announcements unavailable", extra={"code": err.code().name})
        self._fetched_at = time.monotonic()

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at >= self._refresh_seconds


def install(app: Any) -> None:  # noqa: ANN401 - the FastAPI app
    """Give the app its cache and the templates `announcements()` (the home page's include calls it)."""
    cache = AnnouncementCache(lambda: app.state.backends.knowledge)
    app.state.announcements = cache

    @jinja2.pass_context
    def announcements(ctx: jinja2.runtime.Context) -> list[Announcement]:
        session = ctx.get("session")
        if session is None or session.principal.kind != "portal_user":
            return []
        return cache.showing(session.principal_token)

    app.state.pages._env.globals["announcements"] = announcements  # noqa: SLF001 - Pages keeps one environment
