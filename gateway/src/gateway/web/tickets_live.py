"""Live ticket pages: a staff reply appears on an open ticket page without a reload (SSE fed from NATS).

One NATS subscription per gateway process on portal.tickets.ticket_commented.v1 fans public comments out to
the pages watching that ticket. A page may watch a ticket only after the tickets service has answered its
GetTicket with the user's own token, so nobody hears about a ticket they may not see; private notes are
dropped here and their text is not even in the event. The page works without it (progressive enhancement).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.clients.ticket_events import TicketFeed
from gateway.edge.errors import NOT_FOUND
from gateway.web import sse
from gateway.web.deps import PortalPage

router = APIRouter(include_in_schema=False)


def feed(request: Request) -> TicketFeed:
    return sse.shared_feed(request, "ticket_feed", TicketFeed)


async def close_feed(app) -> None:  # noqa: ANN001 - FastAPI app
    await sse.close_shared_feed(app, "ticket_feed")


@router.get("/tickets/{ticket_id}/events")
async def ticket_events(request: Request, ticket_id: str, session: PortalPage) -> Response:
    pages = request.app.state.pages
    try:
        ticket = await request.app.state.backends.tickets.get_ticket(session.principal_token, ticket_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    if (refused := sse.not_a_stream(request)) is not None:
        return refused
    hub = feed(request)
    if (refused := await sse.unavailable(hub, "live ticket updates")) is not None:
        return refused
    t = pages.translator(request)

    async def message(event, queue: asyncio.Queue) -> bytes | None:  # noqa: ANN001, ARG001 - a TicketComment
        if event.customer_id != ticket.customer_id:
            return None
        staff = event.author_kind == "staff"
        payload = {
            "id": event.comment_id,
            "author": event.author_name or t("tickets.comment.staff" if staff else "tickets.comment.customer"),
            "staff": staff,
            "badge": t("tickets.comment.staff_badge") if staff else "",
            "when": t.datetime(event.meta.occurred_at.ToDatetime(tzinfo=UTC)),
            "body": event.body,
        }
        return f"event: comment\ndata: {json.dumps(payload)}\n\n".encode()

    return sse.event_stream(request, hub.listen(ticket.id), message)
