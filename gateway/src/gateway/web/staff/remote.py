"""The staff console's "Agent and remote" (SPEC R1-R3, X1): the staff asset page's section (built here, shown by
web/staff/assets.py) — the asset's agents with Revoke, a one-time enrolment token with its `portal-agent enrol`
command, running any script with its variables (→ the staff run page, live output), asking the customer for a
remote access window for a ticket, the requests with their status, opening a session inside an approved window
(→ the staff terminal, the same relay as the portal's) and the sessions' audit.

When remote does not answer the section says so and the rest of the asset page stands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import quote

import grpc
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from gateway.areas import remote as rules
from gateway.clients import Backends
from gateway.clients.schemas import Asset
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field
from gateway.web.remote import find_session, run_context, serve_terminal, terminal_context
from gateway.web.render import Pages
from gateway.web.views.remote import agent_row, request_row, run_row, session_row

router = APIRouter(prefix="/staff", include_in_schema=False)

ROWS = 25


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


async def _form(request: Request):  # noqa: ANN202 - starlette FormData
    limit = request.app.state.settings.max_body_bytes
    form = await request.form(max_files=0, max_fields=120, max_part_size=limit)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return form


def _refusal(err: grpc.aio.AioRpcError) -> str:
    if err.code() not in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.ALREADY_EXISTS,
    ):
        raise err
    name, detail = split_field(err.details() or "")
    return f"{name}: {detail}" if name else detail


def _asset_path(asset_id: str) -> str:
    return f"/staff/assets/{quote(asset_id, safe='')}"


async def asset_section(request: Request, session: Session, asset: Asset) -> dict:
    """The staff asset page's "Agent and remote" section; `remote_down` when remote did not answer."""
    t = _pages(request).translator(request)
    backends, token = _backends(request), session.principal_token
    remote = backends.remote
    try:
        agents, scripts, requests, sessions, runs = await asyncio.gather(
            remote.list_agents(token, asset_ids=[asset.id]),
            remote.list_scripts(token, page_size=100),
            remote.list_access_requests(token, asset_id=asset.id, page_size=ROWS),
            remote.list_remote_sessions(token, asset_id=asset.id, page_size=ROWS),
            remote.list_script_runs(token, asset_id=asset.id, page_size=ROWS),
        )
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return {"remote_down": True}
    tickets = await rules.open_tickets(backends, token, customer_id=asset.customer_id)
    window = rules.open_window(requests.items, datetime.now(UTC))
    return {
        "remote_down": False,
        "agents": [agent_row(t, a) for a in agents],
        "scripts": [(s.id, s.name) for s in scripts.items],
        "tickets": [(tk.id, f"#{tk.number} {tk.subject}") for tk in tickets],
        "requests": [request_row(t, r) for r in requests.items],
        "sessions": [session_row(t, s) for s in sessions.items],
        "runs": [run_row(t, r) for r in runs.items],
        "window": request_row(t, window) if window else None,
        "windows": {"min": rules.WINDOW_MIN, "max": rules.WINDOW_MAX, "default": rules.WINDOW_DEFAULT},
        "request_key": new_key(),
    }


def _unavailable(request: Request, session: Session, back: str) -> Response:
    return _pages(request).render(request, "remote/unavailable.html", {"back_href": back}, session=session)


# --- agents --------------------------------------------------------------------------------------------------------


@router.post("/assets/{asset_id}/enrolment-token")
async def enrolment_token(request: Request, asset_id: str, session: StaffPage) -> Response:
    """The token is shown on this answer only (remote keeps its hash); a reload does not show it again."""
    form = await _form(request)
    backends, token = _backends(request), session.principal_token
    asset = await backends.assets.get_asset(token, asset_id[:64])
    try:
        minutes = int(field(form, "valid_minutes") or rules.ENROLMENT_MINUTES_DEFAULT)
    except ValueError:
        minutes = rules.ENROLMENT_MINUTES_DEFAULT
    minutes = max(1, min(minutes, rules.ENROLMENT_MINUTES_MAX))
    made = await backends.remote.create_enrolment_token(token, asset.id, valid_minutes=minutes)
    t = _pages(request).translator(request)
    server = request.app.state.settings.agent_public_address
    return _pages(request).render(
        request,
        "staff/remote/enrolment.html",
        {
            "a": asset,
            "command": f"portal-agent enrol --server {server} --token {made.token}",
            "expires": t.datetime(made.expires_at),
        },
        session=session,
    )


@router.get("/assets/{asset_id}/agents/{agent_id}/revoke")
async def revoke_confirm(request: Request, asset_id: str, agent_id: str, session: StaffPage) -> Response:
    asset = await _backends(request).assets.get_asset(session.principal_token, asset_id[:64])
    return _pages(request).render(
        request,
        "staff/remote/revoke.html",
        {"a": asset, "agent_id": agent_id[:64], "back": _asset_path(asset.id)},
        session=session,
    )


@router.post("/assets/{asset_id}/agents/{agent_id}/revoke")
async def revoke(request: Request, asset_id: str, agent_id: str, session: StaffPage) -> Response:
    await _form(request)
    await _backends(request).remote.revoke_agent(session.principal_token, agent_id[:64])
    return RedirectResponse(f"{_asset_path(asset_id[:64])}?done=revoked#remote-section", 303)


# --- script runs ---------------------------------------------------------------------------------------------------


async def _run_form(
    request: Request,
    session: Session,
    asset_id: str,
    script_id: str,
    *,
    values: dict[str, str] | None = None,
    ticket_id: str = "",
    key: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    backends, token = _backends(request), session.principal_token
    asset = await backends.assets.get_asset(token, asset_id[:64])
    try:
        script = await backends.remote.get_script(token, script_id[:64])
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return _unavailable(request, session, _asset_path(asset.id))
    tickets = await rules.open_tickets(backends, token, customer_id=asset.customer_id)
    given = values or {}
    return _pages(request).render(
        request,
        "staff/remote/run_form.html",
        {
            "a": asset,
            "script": script,
            "variables": [(i, v, given.get(v.name, v.default_value)) for i, v in enumerate(script.variables)],
            "tickets": [(tk.id, f"#{tk.number} {tk.subject}") for tk in tickets],
            "ticket_id": ticket_id or request.query_params.get("ticket_id", "")[:64],
            "key": key or new_key(),
            "error": error,
            "back": _asset_path(asset.id),
        },
        session=session,
        status_code=status_code,
    )


@router.get("/assets/{asset_id}/run")
async def run_form(request: Request, asset_id: str, session: StaffPage) -> Response:
    script_id = request.query_params.get("script_id", "")
    if not script_id:
        return RedirectResponse(f"{_asset_path(asset_id[:64])}#remote-section", 303)
    return await _run_form(request, session, asset_id, script_id)


@router.post("/assets/{asset_id}/run")
async def run(request: Request, asset_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    script_id = field(form, "script_id")[:64]
    key = field(form, "idempotency_key")
    key = key if IDEMPOTENCY_KEY.match(key) else new_key()
    ticket_id = field(form, "ticket_id")[:64]
    values = {}
    for i in range(rules.SCRIPT_VARIABLES_MAX):
        name = field(form, f"var_name_{i}")
        if name:
            values[name[:64]] = field(form, f"var_value_{i}")[: rules.VARIABLE_VALUE_MAX]
    try:
        started = await _backends(request).remote.start_script_run(
            session.principal_token,
            script_id=script_id,
            asset_id=asset_id[:64],
            variables=values,
            ticket_id=ticket_id,
            idempotency_key=key,
        )
    except grpc.aio.AioRpcError as err:
        t = _pages(request).translator(request)
        if err.code() in rules.DOWN:
            error, status = t("remote.unavailable"), 503
        elif err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            error, status = t("remote.device_offline"), 409
        else:
            error, status = _refusal(err), 400
        return await _run_form(
            request,
            session,
            asset_id,
            script_id,
            values=values,
            ticket_id=ticket_id,
            key=key,
            error=error,
            status_code=status,
        )
    return RedirectResponse(f"/staff/script-runs/{quote(started.id, safe='')}", 303)


@router.get("/script-runs/{run_id}")
async def run_page(request: Request, run_id: str, session: StaffPage) -> Response:
    try:
        run_, asset = await rules.run_with_asset(_backends(request), session.principal_token, run_id)
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return _unavailable(request, session, "/staff")
    ctx = run_context(
        request,
        run_,
        asset,
        events_href=f"/staff/script-runs/{quote(run_.id, safe='')}/events",
        ticket_href=f"/staff/tickets/{quote(run_.ticket_id, safe='')}" if run_.ticket_id else "",
    )
    return _pages(request).render(request, "staff/remote/run.html", ctx, session=session)


@router.get("/script-runs/{run_id}/events")
async def run_events(request: Request, run_id: str, session: StaffPage) -> Response:
    """The staff run page's live output (the staff cookie is scoped to /staff, so not the API's route)."""
    try:
        events = await rules.run_event_stream(
            _backends(request), session.principal_token, run_id[:64], request.headers.get("last-event-id")
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return _pages(request).error(request, NOT_FOUND, session=session)
        if err.code() in rules.DOWN:
            return Response(status_code=503, headers={"Retry-After": "5"})
        raise
    return StreamingResponse(events, media_type="text/event-stream", headers=rules.SSE_HEADERS)


# --- access requests and sessions ------------------------------------------------------------------------------------


@router.post("/assets/{asset_id}/access-requests")
async def request_access(request: Request, asset_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    key = field(form, "idempotency_key")
    try:
        minutes = int(field(form, "window_minutes") or rules.WINDOW_DEFAULT)
    except ValueError:
        minutes = 0
    t = _pages(request).translator(request)
    path = _asset_path(asset_id[:64])
    reason = field(form, "reason").strip()[: rules.REASON_MAX]
    error = ""
    if not rules.WINDOW_MIN <= minutes <= rules.WINDOW_MAX:
        error = t("staff.remote.window_range", min=rules.WINDOW_MIN, max=rules.WINDOW_MAX)
    elif not reason or not field(form, "ticket_id"):
        error = t("staff.remote.request_needs")
    if not error:
        try:
            await _backends(request).remote.request_remote_access(
                session.principal_token,
                asset_id[:64],
                ticket_id=field(form, "ticket_id")[:64],
                window_minutes=minutes,
                reason=reason,
                idempotency_key=key if IDEMPOTENCY_KEY.match(key) else "",
            )
        except grpc.aio.AioRpcError as err:
            error = t("remote.unavailable") if err.code() in rules.DOWN else _refusal(err)
    if error:
        return _pages(request).render(
            request, "remote/refused.html", {"reason": error, "back_href": path}, session=session, status_code=400
        )
    return RedirectResponse(f"{path}?done=requested#remote-section", 303)


@router.post("/assets/{asset_id}/remote")
async def open_session(request: Request, asset_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    path = _asset_path(asset_id[:64])
    try:
        opened = await _backends(request).remote.open_remote_session(
            session.principal_token, asset_id[:64], access_request_id=field(form, "access_request_id")[:64]
        )
    except grpc.aio.AioRpcError as err:
        t = _pages(request).translator(request)
        if err.code() in rules.DOWN:
            reason = t("remote.unavailable")
        elif err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            reason = t("remote.device_offline")
        else:
            reason = _refusal(err)
        return _pages(request).render(
            request, "remote/refused.html", {"reason": reason, "back_href": path}, session=session, status_code=409
        )
    return RedirectResponse(f"{path}/remote/{quote(opened.id, safe='')}", 303)


@router.get("/assets/{asset_id}/remote/{session_id}")
async def terminal_page(request: Request, asset_id: str, session_id: str, session: StaffPage) -> Response:
    backends, token = _backends(request), session.principal_token
    asset = await backends.assets.get_asset(token, asset_id[:64])
    path = _asset_path(asset.id)
    try:
        rs = await find_session(backends, token, asset.id, session_id[:64])
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return _unavailable(request, session, path)
    if rs is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    ctx = terminal_context(request, rs, base=f"{path}/remote/{quote(rs.id, safe='')}", back_href=path)
    return _pages(request).render(
        request, "staff/remote/terminal.html", {"a": asset, **ctx}, session=session, inline_styles=True
    )


@router.post("/assets/{asset_id}/remote/{session_id}/end")
async def end_session(request: Request, asset_id: str, session_id: str, session: StaffPage) -> Response:
    await _form(request)
    await _backends(request).remote.end_remote_session(session.principal_token, session_id[:64])
    return RedirectResponse(f"{_asset_path(asset_id[:64])}/remote/{quote(session_id[:64], safe='')}", 303)


@router.websocket("/assets/{asset_id}/remote/{session_id}/ws")
async def terminal_socket(ws: WebSocket, asset_id: str, session_id: str) -> None:
    await serve_terminal(ws, session_id, cookie=STAFF_COOKIE, staff=True)
