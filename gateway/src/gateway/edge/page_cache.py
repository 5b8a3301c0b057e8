"""The page cache (issue 16): a signed-in portal user's page, kept as the bytes sent, and sent again while nothing it
was built from has changed.

A page is built from the read cache's answers (clients/read_cache.py), the session, the portal controls (branding,
the home's layout), the request (path, query, cookies, languages asked for) and the day. While a page is built, every
cached read it makes notes its (area, customers) stamp (`PageDeps`); anything a stored page could not repeat spoils
the recording: a read that is not cached or that the cache bypassed, a backend error (a section saying
"unavailable"), a stream, a write. Only an unspoiled 200 text/html answer without Set-Cookie is stored.

A stored page is sent again when, for the same key (the session's cookie among the request's cookies):
- the session resolves to the same Session (same principal and permissions, name, language; only the principal
  token, signed anew on each load, may differ; a revoked or changed session misses, since the session cache drops it
  on identity's events);
- the portal controls are equal to those it was built with;
- every stamp it noted is still current: the read cache's versions move on the services' events, on every write a
  gateway replica makes (`gateway.changed`), and on a reconnection of the event subscription;
- it was begun after this browser's last write (the `portal_rv` cookie, edge/freshness.py: read-your-writes across
  replicas);
- it is younger than the read cache's safety TTL, and built the same UTC day;
- the lists kept apart that it shows (the ticket statuses, the announcements) are still known current: their leases
  have not run out (read_cache.Lease; a view sent again past the middle of a lease renews it in the background).

So a page is exactly as fresh as the answers it is made of, and a hit costs no backend call and no rendering. Like
the read cache it is bypassed for staff, while the event subscription is down, and when the read cache is off. It is
an LRU bounded by entries and bytes (GATEWAY_PAGE_CACHE_ENTRIES, GATEWAY_PAGE_CACHE_BYTES; 0 turns it off).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import grpc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.clients import read_cache
from gateway.edge.metrics import PAGE_CACHE_BYTES, PAGE_CACHE_LOOKUPS, PAGE_CACHE_STALE
from gateway.edge.sessions import RESOLVED_STATE_KEY, SESSION_COOKIE, Session

# Answers larger than this are passed through without being kept (a page is tens of KB).
MAX_PAGE_BYTES = 512 * 1024
# Not pages of the signed-in portal, or not built from cached reads only: never looked up.
_SKIPPED_PREFIXES = ("/api/", "/staff", "/static/", "/webhooks/", "/healthz", "/readyz", "/metrics")
_SESSION_PREFIX = SESSION_COOKIE.encode() + b"="
_HTML = b"text/html"


@dataclass(frozen=True, slots=True)
class _Page:
    session: Session
    controls: Any
    stamps: tuple[tuple[tuple[str, tuple[str, ...], str], tuple], ...]  # ((area, customers, contact), stamp)
    day: int
    filled: float  # monotonic
    leases: tuple[read_cache.Lease, ...]  # of the copies kept apart it shows (PageDeps.leases)
    started_ms: int  # wall clock, against portal_rv
    route: Any
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class PageCache:
    def __init__(self, *, max_entries: int = 2000, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._pages: OrderedDict[tuple, _Page] = OrderedDict()

    def configure(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._pages.clear()
        self.bytes = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0 and read_cache.CACHE.enabled

    def get(self, key: tuple, session: Session, controls: Any, now: float, day: int) -> _Page | None:
        page = self._pages.get(key)
        if page is None:
            PAGE_CACHE_LOOKUPS.labels("miss").inc()
            return None
        reason = _stale_reason(page, session, controls, now, day)
        if reason:
            PAGE_CACHE_LOOKUPS.labels("stale").inc()
            PAGE_CACHE_STALE.labels(reason).inc()
            return None
        self._pages.move_to_end(key)
        PAGE_CACHE_LOOKUPS.labels("hit").inc()
        read_cache.renew_ahead(page.leases, session.principal_token, now)
        return page

    def put(self, key: tuple, page: _Page) -> None:
        size = _size(key, page)
        old = self._pages.pop(key, None)
        if old is not None:
            self.bytes -= _size(key, old)
        if size > self.max_bytes:
            return
        self._pages[key] = page
        self.bytes += size
        while len(self._pages) > self.max_entries or self.bytes > self.max_bytes:
            k, evicted = self._pages.popitem(last=False)
            self.bytes -= _size(k, evicted)
        PAGE_CACHE_BYTES.set(self.bytes)

    def __len__(self) -> int:
        return len(self._pages)


def _stale_reason(page: _Page, session: Session, controls: Any, now: float, day: int) -> str:  # noqa: ANN401
    """Why `page` may not be sent again to `session` now, or "" (see the module's docstring)."""
    if not _same_viewer(page.session, session):
        return "session"
    if page.controls != controls:
        return "controls"
    if page.day != day:
        return "day"
    return read_cache.stale_reason(
        page.stamps, filled=page.filled, leases=page.leases, started_ms=page.started_ms, now=now
    )


def _same_viewer(stored: Session, now: Session) -> bool:
    """Whether the session a page was built for still sees it the same: every field but the principal token.
    Identity signs a new token each time the session cache loads the session again (after its TTL, or after 5 s when
    any invalidation crossed the load, as happens all the time on a busy gateway), and no page shows the token."""
    return stored is now or replace(stored, principal_token="") == replace(now, principal_token="")


def _size(key: tuple, page: _Page) -> int:
    """Approximate bytes held: the body, the headers, the key's strings and an allowance for the objects."""
    headers = sum(len(k) + len(v) for k, v in page.headers)
    return len(page.body) + headers + 1000 + len(key[0]) + len(key[1]) + len(key[2])


# The one page cache of this process (the lifespan configures it from the settings).
PAGES = PageCache()


def _request_key(scope: Scope) -> tuple[tuple, str] | None:
    """(the key, the session token) of a portal page request, or None when it is not one to look up."""
    if scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if path.startswith(_SKIPPED_PREFIXES):
        return None
    cookies = b""
    languages = b""
    for name, value in scope["headers"]:
        if name == b"cookie":
            cookies = cookies + b";" + value if cookies else value
        elif name == b"accept-language":
            languages = value
    token = ""
    kept = []
    for part in cookies.split(b";"):
        part = part.strip()
        if part.startswith(_SESSION_PREFIX):
            token = part[len(_SESSION_PREFIX) :].decode("latin-1")
        # portal_rv is compared with the page's start, not part of the key: it changes on every write.
        if part and not part.startswith(b"portal_rv="):
            kept.append(part)
    if not token:
        return None
    return (path, scope.get("query_string", b""), b";".join(sorted(kept)), languages), token


class PageCacheMiddleware:
    """Looks a signed-in portal page up before the app runs; on a miss, records what the app reads and keeps the
    answer when it may be sent again (see the module's docstring). Pure ASGI: it runs on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not PAGES.enabled:
            await self.app(scope, receive, send)
            return
        found = _request_key(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        key, token = found
        session = await _session(scope, token)
        if session is None or read_cache.CACHE.viewer(session.principal_token).key is None:
            # No session (the page redirects to sign-in), a staff or service principal: never stored.
            await self.app(scope, receive, send)
            return
        # The route's session dependency uses this answer rather than asking the session cache again.
        scope.setdefault("state", {})[RESOLVED_STATE_KEY] = (token, session)
        controls = scope["state"].get("portal_controls")
        now, day = time.monotonic(), int(time.time() // 86400)
        page = PAGES.get(key, session, controls, now, day)
        if page is not None:
            if page.route is not None:
                scope["route"] = page.route  # the request metrics name the route, as on a miss
            await send({"type": "http.response.start", "status": page.status, "headers": list(page.headers)})
            await send({"type": "http.response.body", "body": page.body})
            return
        await self._fill(scope, receive, send, key, session, controls, day)

    async def _fill(
        self, scope: Scope, receive: Receive, send: Send, key: tuple, session: Session, controls: Any, day: int
    ) -> None:
        deps = read_cache.record_page()
        start: tuple[int, tuple[tuple[bytes, bytes], ...]] | None = None
        chunks: list[bytes] = []
        size = 0
        keep = True

        async def capture(message: Message) -> None:
            nonlocal start, size, keep
            if message["type"] == "http.response.start":
                # The app's own headers, copied now: the middleware outside adds its own to this same message, and
                # adds them again to a stored page when it is sent.
                headers = tuple(message.get("headers", ()))
                start = (message["status"], headers)
                ctype = next((v for k, v in headers if k == b"content-type"), b"")
                keep = (
                    message["status"] == 200
                    and ctype.startswith(_HTML)
                    and not any(k == b"set-cookie" for k, _ in headers)
                )
            elif message["type"] == "http.response.body" and keep:
                body = message.get("body", b"")
                size += len(body)
                if size > MAX_PAGE_BYTES:
                    keep = False
                    chunks.clear()
                else:
                    chunks.append(body)
            await send(message)

        await self.app(scope, receive, capture)
        if not keep or start is None or deps.spoiled:
            return
        PAGES.put(
            key,
            _Page(
                session=session,
                controls=controls,
                stamps=tuple(deps.stamps.items()),
                day=day,
                filled=time.monotonic(),
                leases=deps.leases,
                started_ms=deps.started_ms,
                route=scope.get("route"),
                status=start[0],
                headers=start[1],
                body=b"".join(chunks),
            ),
        )


async def _session(scope: Scope, token: str) -> Session | None:
    sessions = getattr(scope["app"].state, "sessions", None)
    if sessions is None:
        return None
    try:
        return await sessions.resolve(token)
    except grpc.aio.AioRpcError:
        return None
