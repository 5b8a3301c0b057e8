"""Live ticket pages: a staff reply appears on an open ticket page without a reload (SSE fed from NATS).

One NATS subscription per gateway process on portal.tickets.ticket_commented.v1 fans public comments out to
the pages watching that ticket. A page may watch a ticket only after the tickets service has answered its
GetTicket with the user's own token, so nobody hears about a ticket they may not see; private notes are
dropped here and their text is not even in the event. The page works without it (progressive enhancement).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from gateway.clients.ticket_events import TicketFeed
from gateway.edge.errors import NOT_FOUND, UNAVAILABLE
from gateway.web.deps import PortalPage

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

HEARTBEAT_SECONDS = 15.0
# The browser's EventSource reconnects by itself; a bounded stream re-checks the session at each reconnect.
STREAM_SECONDS = 300.0


def feed(request: Request) -> TicketFeed:
    state = request.app.state
    if getattr(state, "ticket_feed", None) is None:
        state.ticket_feed = TicketFeed(state.settings.nats_url)
    return state.ticket_feed


async def close_feed(app) -> None:  # noqa: ANN001 - FastAPI app
    f = getattr(app.state, "ticket_feed", None)
    if f is not None:
        await f.close()


@router.get("/tickets/{ticket_id}/events")
async def ticket_events(request: Request, ticket_id: str, session: PortalPage) -> Response:
    pages = request.app.state.pages
    try:
        ticket = await request.app.state.backends.tickets.get_ticket(session.principal_token, ticket_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    if "text/event-stream" not in request.headers.get("accept", ""):
        # Only EventSource (which always asks for text/event-stream) gets the endless stream.
        return Response("This address streams text/event-stream.", status_code=406, media_type="text/plain")
    hub = feed(request)
    try:
        await asyncio.wait_for(hub.start(), timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to subscribe means "try later"
        log.warning("live ticket updates unavailable: %s", exc.__class__.__name__)
        return Response(status_code=UNAVAILABLE.status, headers={"Retry-After": "10"})
    t = pages.translator(request)

    async def stream() -> AsyncIterator[bytes]:
        deadline = time.monotonic() + STREAM_SECONDS
        with hub.listen(ticket.id) as queue:
            yield b"retry: 3000\n\n"
            while time.monotonic() < deadline and not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event.customer_id != ticket.customer_id:
                    continue
                staff = event.author_kind == "staff"
                payload = {
                    "id": event.comment_id,
                    "author": event.author_name or t("tickets.comment.staff" if staff else "tickets.comment.customer"),
                    "staff": staff,
                    "badge": t("tickets.comment.staff_badge") if staff else "",
                    "when": t.datetime(event.meta.occurred_at.ToDatetime(tzinfo=UTC)),
                    "body": event.body,
                }
                yield f"event: comment\ndata: {json.dumps(payload)}\n\n".encode()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
