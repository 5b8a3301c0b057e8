"""The portal off switch (SPEC P8) and branding (P12) at the edge.

`PortalControlsMiddleware` reads identity's portal controls through a per-process cache (a few seconds, so a
change reaches every replica within CACHE_SECONDS), puts them on the request (`request.state.portal_controls`,
read by the page renderer for the header) and, while the portal is switched off, redirects every portal visit to
the configured address. Staff routes, health checks and static files are never redirected; the portal JSON API
answers 503 problem+json instead of a redirect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import urlsplit

import grpc
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.clients.portal_controls import PortalControls, PortalControlsClient

log = logging.getLogger(__name__)

CACHE_SECONDS = 3.0
# After a failed read, the last known controls (or the defaults) are used and identity is asked again this soon.
RETRY_SECONDS = 1.0
# /webhooks: a processor's calls finish payments whatever the portal's switch says.
_EXEMPT_PREFIXES = ("/staff", "/api/v1/staff", "/static/", "/webhooks/")
_EXEMPT_PATHS = ("/healthz", "/readyz")
_STATE_KEY = "portal_controls"


def exempt(path: str) -> bool:
    """Routes the off switch never touches: staff, health checks, static files, processors' webhooks."""
    if path in _EXEMPT_PATHS:
        return True
    return any(path == p.rstrip("/") or path.startswith(p if p.endswith("/") else p + "/") for p in _EXEMPT_PREFIXES)


class ControlsCache:
    """The portal controls, fetched at most once per CACHE_SECONDS; concurrent misses share one call."""

    def __init__(self, client: PortalControlsClient, *, ttl: float = CACHE_SECONDS) -> None:
        self._client = client
        self._ttl = ttl
        self._value = PortalControls()
        self._expires = 0.0
        self._inflight: asyncio.Future[None] | None = None

    async def get(self) -> PortalControls:
        if time.monotonic() < self._expires:
            return self._value
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh())
        fut = self._inflight
        await asyncio.shield(fut)
        return self._value

    async def _refresh(self) -> None:
        try:
            self._value = await self._client.get(deadline=2.0)
            self._expires = time.monotonic() + self._ttl
        except grpc.aio.AioRpcError as err:
            log.warning("portal controls not read; using the last known", extra={"code": err.code().name})
            self._expires = time.monotonic() + RETRY_SECONDS
        finally:
            self._inflight = None

    def invalidate(self) -> None:
        self._expires = 0.0


def controls_cache(app) -> ControlsCache:  # noqa: ANN001 - FastAPI app
    cache = getattr(app.state, "portal_controls", None)
    if cache is None:
        cache = ControlsCache(app.state.backends.portal_controls)
        app.state.portal_controls = cache
    return cache


def origin(url: str) -> str:
    """The https origin of an absolute URL ("" for a same-origin path), as a CSP source."""
    if not url.startswith("https://"):
        return ""
    return f"https://{urlsplit(url).netloc}"


class PortalControlsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or getattr(scope["app"].state, "backends", None) is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        controls = await controls_cache(scope["app"]).get()
        scope.setdefault("state", {})[_STATE_KEY] = controls
        if controls.disabled and controls.redirect_url and not exempt(path):
            if path.startswith("/api/"):
                await _problem(send, controls.redirect_url)
            else:
                await _redirect(send, controls.redirect_url)
            return
        await self.app(scope, receive, send)


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [(b"location", location.encode("ascii")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _problem(send: Send, location: str) -> None:
    body = json.dumps(
        {
            "type": "https://portal.example/problems/portal-disabled",
            "title": "The portal is switched off",
            "status": 503,
            "detail": f"The portal is not available; see {location}",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"location", location.encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def request_controls(request) -> PortalControls | None:  # noqa: ANN001 - starlette Request
    return getattr(request.state, _STATE_KEY, None)
