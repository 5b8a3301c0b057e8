"""Read-your-writes across gateway replicas: the `portal_rv` cookie.

A request that wrote something (the Caller marks it, clients/read_cache.py) answers with `portal_rv` = the write's
wall-clock time in ms, short-lived. A later request carrying it bypasses cached answers begun before that time, on
whichever replica it lands, until the events about the write have moved the versions everywhere. The value is only
ever compared with numbers: a forged or broken cookie at worst makes that browser's own reads skip the cache.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "portal_rv"
# Longer than the events need to reach every replica (well under a second), short enough to stop skipping the cache.
MAX_AGE_SECONDS = 10
_MAX_DIGITS = 16


class _Request:
    __slots__ = ("last_write_ms", "wrote_ms")

    def __init__(self, last_write_ms: int) -> None:
        self.last_write_ms = last_write_ms
        self.wrote_ms = 0


_current: ContextVar[_Request | None] = ContextVar("freshness", default=None)


def last_write_ms() -> int:
    """The newest write this browser made (its cookie, or this very request's), 0 when none is known."""
    r = _current.get()
    if r is None:
        return 0
    return max(r.last_write_ms, r.wrote_ms)


def mark_write(at_ms: int) -> None:
    r = _current.get()
    if r is not None:
        r.wrote_ms = at_ms


def _cookie(scope: Scope) -> int:
    for key, value in scope["headers"]:
        if key == b"cookie" and b"portal_rv=" in value:
            for part in value.split(b";"):
                name, _, v = part.strip().partition(b"=")
                if name == b"portal_rv" and v.isdigit() and len(v) <= _MAX_DIGITS:
                    return int(v)
    return 0


class FreshnessMiddleware:
    """Binds the request's portal_rv and sets it on an answer after a write (pure ASGI: it runs on every request)."""

    def __init__(self, app: ASGIApp, *, secure: bool = True) -> None:
        self.app = app
        flags = b"; Max-Age=%d; Path=/; HttpOnly; SameSite=Lax" % MAX_AGE_SECONDS
        self._flags = flags + (b"; Secure" if secure else b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request(_cookie(scope))
        token = _current.set(request)

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start" and request.wrote_ms:
                headers = list(message.get("headers", ()))
                headers.append((b"set-cookie", b"portal_rv=%d" % request.wrote_ms + self._flags))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_marked)
        finally:
            _current.reset(token)
