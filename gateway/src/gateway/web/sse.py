"""Server-sent event streams fed from the gateway's NATS subscriptions (live ticket pages, the live home): the one
loop both share. A stream is refused with 406 to anything but EventSource (which always asks for
text/event-stream), answers 503 with Retry-After when the subscription cannot start, sends a heartbeat comment
while nothing happens and ends after STREAM_SECONDS (the browser's EventSource reconnects by itself, and a bounded
stream re-checks the session at each reconnect). The pages work without it (progressive enhancement).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from gateway.edge.errors import UNAVAILABLE

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0


class Feed(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


F = TypeVar("F", bound=Feed)


def shared_feed(request: Request, name: str, make: Callable[[str], F]) -> F:
    """The gateway process's one feed kept as app.state.<name>, made from the NATS URL on first use."""
    state = request.app.state
    if getattr(state, name, None) is None:
        setattr(state, name, make(state.settings.nats_url))
    return getattr(state, name)


async def close_shared_feed(app, name: str) -> None:  # noqa: ANN001 - FastAPI app
    f = getattr(app.state, name, None)
    if f is not None:
        await f.close()


def not_a_stream(request: Request) -> Response | None:
    """406 unless the caller asks for text/event-stream: only EventSource gets the endless stream."""
    if "text/event-stream" not in request.headers.get("accept", ""):
        return Response("This address streams text/event-stream.", status_code=406, media_type="text/plain")
    return None


async def unavailable(hub: Feed, what: str) -> Response | None:
    """Start the feed's subscription (at most 3 s); a 503 with Retry-After when it cannot start, None when it runs."""
    try:
        await asyncio.wait_for(hub.start(), timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to subscribe means "try later"
        log.warning("%s unavailable: %s", what, exc.__class__.__name__)
        return Response(status_code=UNAVAILABLE.status, headers={"Retry-After": "10"})
    return None


def event_stream(
    request: Request,
    listening: AbstractContextManager[asyncio.Queue],
    message: Callable[[Any, asyncio.Queue], Awaitable[bytes | None]],
) -> StreamingResponse:
    """The stream: `retry: 3000`, then `message(item, queue)` for each item the queue gets (None sends nothing), a
    keep-alive comment after HEARTBEAT_SECONDS without one, until the client leaves or STREAM_SECONDS pass."""

    async def stream() -> AsyncIterator[bytes]:
        deadline = time.monotonic() + STREAM_SECONDS
        with listening as queue:
            yield b"retry: 3000\n\n"
            while time.monotonic() < deadline and not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                chunk = await message(item, queue)
                if chunk:
                    yield chunk

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
