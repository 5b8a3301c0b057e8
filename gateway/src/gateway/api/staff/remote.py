"""Device agents, script runs, access requests and remote sessions in the staff JSON API (SPEC R1-R3, X1):
enrolment tokens for an asset (shown once), a customer's or an asset's agents and revoking one, running any script
with variables on an asset (Idempotency-Key) and reading the run, asking a customer for a remote access window for a
ticket (Idempotency-Key), the requests with their status, opening a session inside an approved window, and the
sessions' audit. The run's live output: `GET /api/v1/script-runs/{run_id}/events` with the staff bearer token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.staff import Id
from gateway.areas import remote as rules
from gateway.clients.schemas import AccessRequest, Agent, EnrolmentToken, RemoteSession, ScriptRun
from gateway.edge.idempotency import IDEMPOTENCY_KEY

router = APIRouter(prefix="/api/v1/staff", tags=["staff: remote"], responses=problems(400, 401, 403, 503))

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY.pattern,
        description="Repeat the same key to get the first request's answer instead of doing it twice.",
    ),
]
RefId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Cursor = Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)]
PageSize = Annotated[int, Query(ge=1, le=100)]


class EnrolmentTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_minutes: int = Field(rules.ENROLMENT_MINUTES_DEFAULT, ge=1, le=rules.ENROLMENT_MINUTES_MAX)


class EnrolmentTokenOut(EnrolmentToken):
    command: str = Field(description="What to run on the device: `portal-agent enrol --server … --token …`")


class ScriptRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script_id: RefId = Field(min_length=1)
    variables: dict[
        Annotated[str, StringConstraints(max_length=64)],
        Annotated[str, StringConstraints(max_length=rules.VARIABLE_VALUE_MAX)],
    ] = Field(default_factory=dict, max_length=rules.SCRIPT_VARIABLES_MAX)
    ticket_id: RefId = Field("", description="The customer's ticket to record the run on (optional)")


class AccessRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: RefId = Field(min_length=1, description="The customer's ticket the access is for")
    window_minutes: int = Field(rules.WINDOW_DEFAULT, ge=rules.WINDOW_MIN, le=rules.WINDOW_MAX)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.REASON_MAX)]


class RemoteSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_request_id: RefId = Field(min_length=1, description="The approved request whose window is open")
    minutes: int = Field(0, ge=0, le=rules.SESSION_MINUTES_MAX, description="0: the service's maximum")


class ScriptRunPage(BaseModel):
    items: list[ScriptRun]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class AccessRequestPage(BaseModel):
    items: list[AccessRequest]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class RemoteSessionPage(BaseModel):
    items: list[RemoteSession]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


def enrol_command(server: str, token: str) -> str:
    return f"portal-agent enrol --server {server} --token {token}"


@router.post("/assets/{asset_id}/enrolment-tokens", status_code=status.HTTP_201_CREATED, responses=problems(404))
async def create_enrolment_token(
    request: Request, asset_id: Id, body: EnrolmentTokenIn, session: StaffApiSession, backends: Clients
) -> EnrolmentTokenOut:
    """A one-time token that enrols one agent for this asset; shown only in this answer."""
    made = await backends.remote.create_enrolment_token(
        session.principal_token, asset_id, valid_minutes=body.valid_minutes
    )
    server = request.app.state.settings.agent_public_address
    return EnrolmentTokenOut(token=made.token, expires_at=made.expires_at, command=enrol_command(server, made.token))


@router.get("/agents")
async def list_agents(
    session: StaffApiSession,
    backends: Clients,
    customer_id: Annotated[str, Query(max_length=64)] = "",
    asset_id: Annotated[str, Query(max_length=64)] = "",
) -> list[Agent]:
    """A customer's agents, or an asset's (give one of the two)."""
    if not customer_id and not asset_id:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "customer_id: give customer_id or asset_id")
    return await backends.remote.list_agents(
        session.principal_token, asset_ids=[asset_id] if asset_id else [], customer_id=customer_id
    )


@router.post("/agents/{agent_id}/revoke", responses=problems(404))
async def revoke_agent(agent_id: Id, session: StaffApiSession, backends: Clients) -> Agent:
    """The agent's stream closes and it can never connect or enrol again with its key."""
    return await backends.remote.revoke_agent(session.principal_token, agent_id)


@router.post("/assets/{asset_id}/script-runs", status_code=status.HTTP_201_CREATED, responses=problems(404, 409))
async def start_script_run(
    asset_id: Id, body: ScriptRunIn, session: StaffApiSession, backends: Clients, idempotency_key: IdempotencyKey = None
) -> ScriptRun:
    """Run any script on the asset's device with its variables (environment variables, never interpolated). 409
    "device offline" when the agent is not connected; 400 names an unknown or missing variable."""
    return await backends.remote.start_script_run(
        session.principal_token,
        script_id=body.script_id,
        asset_id=asset_id,
        variables=body.variables,
        ticket_id=body.ticket_id,
        idempotency_key=idempotency_key or "",
    )


@router.get("/script-runs")
async def list_script_runs(
    session: StaffApiSession,
    backends: Clients,
    asset_id: Annotated[str, Query(max_length=64)] = "",
    cursor: Cursor = "",
    page_size: PageSize = rules.PAGE_SIZE,
) -> ScriptRunPage:
    page = await backends.remote.list_script_runs(
        session.principal_token, page_size=page_size, cursor=cursor, asset_id=asset_id
    )
    return ScriptRunPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/script-runs/{run_id}", responses=problems(404))
async def get_script_run(run_id: Id, session: StaffApiSession, backends: Clients) -> ScriptRun:
    return await backends.remote.get_script_run(session.principal_token, run_id)


@router.post("/assets/{asset_id}/access-requests", status_code=status.HTTP_201_CREATED, responses=problems(404, 409))
async def request_remote_access(
    asset_id: Id,
    body: AccessRequestIn,
    session: StaffApiSession,
    backends: Clients,
    idempotency_key: IdempotencyKey = None,
) -> AccessRequest:
    """Ask the customer's portal users for a remote access window on the asset, for one of its tickets (X1)."""
    return await backends.remote.request_remote_access(
        session.principal_token,
        asset_id,
        ticket_id=body.ticket_id,
        window_minutes=body.window_minutes,
        reason=body.reason,
        idempotency_key=idempotency_key or "",
    )


@router.get("/access-requests")
async def list_access_requests(
    session: StaffApiSession,
    backends: Clients,
    customer_id: Annotated[str, Query(max_length=64)] = "",
    asset_id: Annotated[str, Query(max_length=64)] = "",
    status_filter: Annotated[
        Literal["", "pending", "approved", "declined", "expired"], Query(alias="status", description="Empty: all")
    ] = "",
    cursor: Cursor = "",
    page_size: PageSize = rules.PAGE_SIZE,
) -> AccessRequestPage:
    page = await backends.remote.list_access_requests(
        session.principal_token,
        page_size=page_size,
        cursor=cursor,
        asset_id=asset_id,
        status=status_filter,
        customer_id=customer_id,
    )
    return AccessRequestPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/assets/{asset_id}/remote-sessions", status_code=status.HTTP_201_CREATED, responses=problems(404, 409))
async def open_remote_session(
    asset_id: Id, body: RemoteSessionIn, session: StaffApiSession, backends: Clients
) -> RemoteSession:
    """Open a session inside an approved request's open window (403 saying why otherwise; 409 "device offline").
    Its terminal is the staff page `/staff/assets/{asset_id}/remote/{session_id}`."""
    return await backends.remote.open_remote_session(
        session.principal_token, asset_id, access_request_id=body.access_request_id, minutes=body.minutes
    )


@router.post("/remote-sessions/{session_id}/end", responses=problems(404))
async def end_remote_session(session_id: Id, session: StaffApiSession, backends: Clients) -> RemoteSession:
    return await backends.remote.end_remote_session(session.principal_token, session_id)


@router.get("/remote-sessions")
async def list_remote_sessions(
    session: StaffApiSession,
    backends: Clients,
    customer_id: Annotated[str, Query(max_length=64)] = "",
    asset_id: Annotated[str, Query(max_length=64)] = "",
    cursor: Cursor = "",
    page_size: PageSize = rules.PAGE_SIZE,
) -> RemoteSessionPage:
    """The sessions' audit, newest first: who, when, why it ended and the bytes each way."""
    page = await backends.remote.list_remote_sessions(
        session.principal_token, page_size=page_size, cursor=cursor, asset_id=asset_id, customer_id=customer_id
    )
    return RemoteSessionPage(items=page.items, next_cursor=page.next_cursor)
