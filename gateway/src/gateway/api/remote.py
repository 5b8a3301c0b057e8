"""Remote access and scripts in the portal's JSON API (SPEC R1-R3, X1, X2): an asset's portal scripts, running one
(recorded on a new ticket or one of the customer's; Idempotency-Key), a run with its output, the run's live output
as server-sent events, opening and ending a remote session, and the access requests staff sent the customer, to
approve or decline.

The remote service decides every rule (another customer's asset or run is 404 there, a run without Assets - Run
Script 403, an offline device 409 "device offline"); these routes translate. The terminal itself is a WebSocket of
the pages (`/assets/{asset_id}/remote/{session_id}/ws`), not part of this API."""

from __future__ import annotations

from typing import Annotated, Literal

import grpc
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import ApiUnauthenticated, Clients, CurrentSession, bearer, current_session
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.areas import remote as rules
from gateway.clients.schemas import AccessRequest, RemoteSession, ScriptRun
from gateway.edge.idempotency import IDEMPOTENCY_KEY
from gateway.edge.sessions import SESSION_COOKIE, Session

router = APIRouter(prefix="/api/v1", tags=["remote"], responses=problems(400, 401, 403, 404, 503))

RecordId = Annotated[str, Path(min_length=1, max_length=64)]
RefId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
KEY_HELP = "Repeat the same key to get the first request's answer instead of doing it twice."
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY.pattern, description=KEY_HELP)
]
EVENT_STREAM = {
    200: {
        "description": "`event: output` (data lines of device text; `id` is the byte offset) as the device writes, "
        "then one `event: finished` whose data is the run as JSON",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


class PortalScript(BaseModel):
    """A script the customer may run on its devices, by its self-service name (R2, X2)."""

    id: str
    name: str = Field(description="The plain-language self-service name")
    confirmation: str = Field(description="What the portal shows before running it")


class ScriptRunStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script_id: RefId = Field(min_length=1)
    ticket_id: RefId = Field("", description="One of your customer's tickets to record the run on")
    new_ticket: bool = Field(
        False,
        description="Record the run on a new ticket (the default without ticket_id): the run names it at once "
        "(`ticket_id`) and it is opened for you when the run has finished; needs no Tickets - Create New",
    )


class AccessRequestPage(BaseModel):
    items: list[AccessRequest]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


def _refuse_without_permission(session: Session) -> None:
    if not rules.may_run_scripts(session.principal):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "running scripts needs the Assets - Run Script permission")


@router.get("/assets/{asset_id}/scripts")
async def asset_scripts(asset_id: RecordId, session: CurrentSession, backends: Clients) -> list[PortalScript]:
    """The portal scripts you may run on this asset (needs Assets - Run Script)."""
    _refuse_without_permission(session)
    await backends.assets.get_asset(session.principal_token, asset_id)
    page = await backends.remote.list_scripts(session.principal_token, page_size=100)
    return [PortalScript(id=s.id, name=s.shown_name, confirmation=s.portal_confirmation) for s in page.items]


@router.post("/assets/{asset_id}/script-runs", status_code=status.HTTP_201_CREATED, responses=problems(409))
async def start_script_run(
    asset_id: RecordId,
    body: ScriptRunStart,
    session: CurrentSession,
    backends: Clients,
    idempotency_key: IdempotencyKey = None,
) -> ScriptRun:
    """Run a portal script on the asset's device (Assets - Run Script). The run is recorded on `ticket_id` (one of
    your customer's tickets you may see) or on a new ticket, opened for you when the run has finished (the run's
    `ticket_id` names it from the start). 409 "device offline" when the device's agent is not connected."""
    _refuse_without_permission(session)
    if body.ticket_id and body.new_ticket:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "ticket_id: give a ticket or new_ticket, not both")
    token = session.principal_token
    asset = await backends.assets.get_asset(token, asset_id)
    script = await backends.remote.get_script(token, body.script_id)
    try:
        ticket_id = await rules.ticket_for_run(backends, session, asset, ticket_id=body.ticket_id)
    except rules.TicketRefused:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "ticket_id: not one of your customer's tickets") from None
    return await backends.remote.start_script_run(
        token,
        script_id=script.id,
        asset_id=asset.id,
        ticket_id=ticket_id,
        new_ticket=not ticket_id,
        idempotency_key=idempotency_key or "",
    )


@router.get("/script-runs/{run_id}")
async def get_script_run(run_id: RecordId, session: CurrentSession, backends: Clients) -> ScriptRun:
    """A run with its output so far (at most the service's bound; `truncated` says when it was cut)."""
    return await backends.remote.get_script_run(session.principal_token, run_id)


async def stream_session(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Session:
    """The bearer session, or the portal's session cookie: a browser's EventSource cannot send a header. Reading a
    stream changes nothing, so the cookie needs no CSRF token here."""
    if credentials is not None and credentials.credentials:
        return await current_session(request, credentials)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise ApiUnauthenticated("send the session token as `Authorization: Bearer <session_token>`")
    try:
        return await request.app.state.sessions.resolve(cookie)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiUnauthenticated("the session is invalid or has expired; sign in again") from None
        raise


@router.get("/script-runs/{run_id}/events", response_class=StreamingResponse, responses=EVENT_STREAM)
async def script_run_events(
    run_id: RecordId,
    session: Annotated[Session, Depends(stream_session)],
    backends: Clients,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> Response:
    """The run's output live, as server-sent events (the bearer token, or the portal's session cookie for a
    browser's EventSource). It ends after the `finished` event."""
    events = await rules.run_event_stream(backends, session.principal_token, run_id, last_event_id)
    return StreamingResponse(events, media_type="text/event-stream", headers=rules.SSE_HEADERS)


@router.post("/assets/{asset_id}/remote-sessions", status_code=status.HTTP_201_CREATED, responses=problems(409))
async def open_remote_session(asset_id: RecordId, session: CurrentSession, backends: Clients) -> RemoteSession:
    """Open a remote session on the asset (R1): your customer must have remote access enabled (403 otherwise) and
    the device's agent must be connected (409 "device offline"). The terminal is the page
    `/assets/{asset_id}/remote/{session_id}`."""
    return await backends.remote.open_remote_session(session.principal_token, asset_id)


@router.post("/remote-sessions/{session_id}/end")
async def end_remote_session(session_id: RecordId, session: CurrentSession, backends: Clients) -> RemoteSession:
    """End a session you opened; its record keeps who, when and the bytes each way."""
    return await backends.remote.end_remote_session(session.principal_token, session_id)


@router.get("/access-requests")
async def list_access_requests(
    session: CurrentSession,
    backends: Clients,
    status_filter: Annotated[
        Literal["", "pending", "approved", "declined", "expired"], Query(alias="status", description="Empty: all")
    ] = "",
    asset_id: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
) -> AccessRequestPage:
    """Staff's requests for a remote access window on your assets (X1), newest first."""
    page = await backends.remote.list_access_requests(
        session.principal_token, page_size=page_size, cursor=cursor, asset_id=asset_id, status=status_filter
    )
    return AccessRequestPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/access-requests/{request_id}/approve", responses=problems(409))
async def approve_access_request(request_id: RecordId, session: CurrentSession, backends: Clients) -> AccessRequest:
    """Approve: the window opens now for its `window_minutes`. 409 when it was decided already or expired."""
    return await backends.remote.decide_access_request(session.principal_token, request_id, approve=True)


@router.post("/access-requests/{request_id}/decline", responses=problems(409))
async def decline_access_request(request_id: RecordId, session: CurrentSession, backends: Clients) -> AccessRequest:
    """Decline: staff get no window for this request."""
    return await backends.remote.decide_access_request(session.principal_token, request_id, approve=False)


__all__ = ["PortalScript", "router", "stream_session"]
