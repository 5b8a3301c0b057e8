"""Remote access and scripts in the portal (SPEC R1-R3, X1, X2): the asset page's Agent line, Remote action and
portal scripts (built here, shown by web/assets.py), the confirm page of a script run with its ticket choice, the
run's page with live output, the terminal page and its WebSocket, and the access requests staff sent (approve /
decline). The same relay serves the staff terminal (web/staff/remote.py).

Everything but the terminal works without JavaScript; when remote does not answer, each remote section says
"Remote actions are unavailable right now" and the rest of the page stands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import grpc
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import RedirectResponse, Response
from starlette.websockets import WebSocketDisconnect, WebSocketState

from gateway.areas import assets as asset_rules
from gateway.areas import remote as rules
from gateway.clients import Backends
from gateway.clients.schemas import Asset, RemoteSession
from gateway.edge import origin
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.portal_controls import controls_cache
from gateway.edge.sessions import SESSION_COOKIE, Session
from gateway.web.deps import PortalPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.render import Pages
from gateway.web.views.remote import agent_view, end_reason, request_row, run_row

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# The largest keystroke frame relayed to a device; a paste larger than this is cut into frames by the browser.
MAX_INPUT_FRAME = 64 * 1024
MAX_TERMINAL_SIZE = 1_000
# WebSocket close codes (4000-4999 are the application's): the page shows the reason either way.
CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHENTICATED = 4401
CLOSE_UNAVAILABLE = 4503
REQUESTS_SHOWN = 50


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


# --- what web/assets.py shows ------------------------------------------------------------------------------------


async def asset_section(request: Request, session: Session, asset: Asset) -> dict:
    """The asset page's remote part: `remote_down` (remote did not answer), `agent` (AgentView), `action`
    (RemoteAction or None) and `scripts` ([(id, name)]; empty without Assets - Run Script)."""
    t = _pages(request).translator(request)
    backends = _backends(request)
    agents, scripts = await asyncio.gather(
        rules.agents_for(backends, session.principal_token, [asset.id]),
        rules.portal_scripts(backends, session) if not asset.retired_at else _nothing(),
    )
    line = None if agents is None else rules.agent_line(agents, asset.id)
    template = request.app.state.settings.remote_url_template
    return {
        "remote_down": agents is None or scripts is None,
        "agent": agent_view(t, line),
        "action": rules.remote_action(session, asset, line, template),
        "scripts": [(s.id, s.shown_name) for s in scripts or []],
    }


async def _nothing() -> list:
    return []


async def list_column(request: Request, session: Session, assets: list[Asset]) -> dict[str, dict] | None:
    """The asset list's Remote column: asset id → {"agent": AgentView, "action": RemoteAction | None}, from one
    ListAgents call for the page's assets; None when remote did not answer (the column then says so)."""
    t = _pages(request).translator(request)
    agents = await rules.agents_for(_backends(request), session.principal_token, [a.id for a in assets])
    if agents is None:
        return None
    template = request.app.state.settings.remote_url_template
    out = {}
    for a in assets:
        line = rules.agent_line(agents, a.id)
        out[a.id] = {"agent": agent_view(t, line), "action": rules.remote_action(session, a, line, template)}
    return out


def _refusal(err: grpc.aio.AioRpcError) -> str:
    """The service's reason for a refused action, shown on the page; other errors go to the error handler."""
    if err.code() not in (
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    ):
        raise err
    name, detail = split_field(err.details() or "")
    return f"{name}: {detail}" if name else detail


# --- running a portal script (X2) --------------------------------------------------------------------------------


async def _confirm_page(
    request: Request,
    session: Session,
    asset_id: str,
    script_id: str,
    *,
    error: str = "",
    chosen: str = "new",
    key: str = "",
    status_code: int = 200,
) -> Response:
    pages = _pages(request)
    if not rules.may_run_scripts(session.principal) or session.principal.is_staff:
        return pages.error(request, NOT_FOUND, session=session)
    backends, token = _backends(request), session.principal_token
    asset = await backends.assets.get_asset(token, asset_id[:64])
    try:
        script = await backends.remote.get_script(token, script_id[:64])
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return _unavailable(request, session, back=f"/assets/{asset.id}")
    tickets = await rules.open_tickets(backends, token) if rules.may_pick_tickets(session.principal) else []
    return pages.render(
        request,
        "remote/confirm.html",
        {
            "a": asset,
            "script": script,
            "tickets": [(tk.id, f"#{tk.number} {tk.subject}") for tk in tickets],
            "chosen": chosen,
            "key": key or new_key(),
            "error": error,
        },
        session=session,
        status_code=status_code,
    )


def _unavailable(request: Request, session: Session, *, back: str) -> Response:
    """A page that is all remote, while remote does not answer: 200 with the notice, never an error page."""
    return _pages(request).render(request, "remote/unavailable.html", {"back_href": back}, session=session)


@router.get("/assets/{asset_id}/scripts/{script_id}/run")
async def confirm_run(request: Request, asset_id: str, script_id: str, session: PortalPage) -> Response:
    return await _confirm_page(request, session, asset_id, script_id)


@router.post("/assets/{asset_id}/scripts/{script_id}/run")
async def run_script(request: Request, asset_id: str, script_id: str, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    pages = _pages(request)
    if not rules.may_run_scripts(session.principal) or session.principal.is_staff:
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    key = field(form, "idempotency_key")
    key = key if IDEMPOTENCY_KEY.match(key) else new_key()
    chosen = field(form, "ticket")[:64] or "new"
    asset = await backends.assets.get_asset(token, asset_id[:64])
    script = await backends.remote.get_script(token, script_id[:64])
    again = {"chosen": chosen, "key": key}
    try:
        ticket_id = await rules.ticket_for_run(backends, session, asset, ticket_id="" if chosen == "new" else chosen)
        run = await backends.remote.start_script_run(
            token,
            script_id=script.id,
            asset_id=asset.id,
            ticket_id=ticket_id,
            new_ticket=not ticket_id,
            idempotency_key=key,
        )
    except rules.TicketRefused:
        return await _confirm_page(
            request, session, asset.id, script.id, error=t("remote.run.bad_ticket"), status_code=400, **again
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in rules.DOWN:
            return await _confirm_page(
                request, session, asset.id, script.id, error=t("remote.unavailable"), status_code=503, **again
            )
        reason = _refusal(err)
        if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            reason = t("remote.device_offline")
        # A refusal from remote (e.g. the permission withdrawn meanwhile) is 403, as in the JSON API.
        status = {grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.PERMISSION_DENIED: 403}.get(err.code(), 400)
        return await _confirm_page(request, session, asset.id, script.id, error=reason, status_code=status, **again)
    return RedirectResponse(f"/script-runs/{run.id}", status_code=303)


def run_context(request: Request, run, asset: Asset | None, *, events_href: str, ticket_href: str) -> dict:  # noqa: ANN001
    """What the run page shows, portal and staff alike."""
    t = _pages(request).translator(request)
    row = run_row(t, run)
    return {
        "status_labels": {s: t.status(s) for s in ("queued", "running", *rules.RUN_FINISHED)},
        "run": run,
        "row": row,
        "asset": asset,
        "running": not run.finished,
        "events_href": events_href,
        "ticket_href": ticket_href,
        # A new ticket is opened when the run has finished: until then the page says so, and links it after.
        "ticket_pending": bool(run.new_ticket and not run.finished),
    }


@router.get("/script-runs/{run_id}")
async def run_page(request: Request, run_id: str, session: PortalPage) -> Response:
    try:
        run, asset = await rules.run_with_asset(_backends(request), session.principal_token, run_id)
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return _unavailable(request, session, back="/")
    ctx = run_context(
        request,
        run,
        asset,
        events_href=f"/api/v1/script-runs/{run.id}/events",
        ticket_href=f"/tickets/{run.ticket_id}" if run.ticket_id else "",
    )
    return _pages(request).render(request, "remote/run.html", ctx, session=session)


# --- remote sessions and the terminal (R1) -----------------------------------------------------------------------


@router.post("/assets/{asset_id}/remote")
async def open_session(request: Request, asset_id: str, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    pages = _pages(request)
    if not asset_rules.may_view(session.principal):
        return pages.error(request, NOT_FOUND, session=session)
    try:
        opened = await _backends(request).remote.open_remote_session(session.principal_token, asset_id[:64])
    except grpc.aio.AioRpcError as err:
        if err.code() in rules.DOWN:
            return _unavailable(request, session, back=f"/assets/{asset_id[:64]}")
        reason = _refusal(err)
        t = pages.translator(request)
        if err.code() == grpc.StatusCode.FAILED_PRECONDITION:
            reason = t("remote.device_offline")
        return pages.render(
            request,
            "remote/refused.html",
            {"reason": reason, "back_href": f"/assets/{asset_id[:64]}"},
            session=session,
            status_code=409 if err.code() == grpc.StatusCode.FAILED_PRECONDITION else 403,
        )
    return RedirectResponse(f"/assets/{opened.asset_id}/remote/{opened.id}", status_code=303)


async def find_session(backends: Backends, token: str, asset_id: str, session_id: str) -> RemoteSession | None:
    """The session from the audit list (remote has no GetRemoteSession): the newest of the asset's."""
    page = await backends.remote.list_remote_sessions(token, asset_id=asset_id, page_size=100)
    return next((s for s in page.items if s.id == session_id), None)


def terminal_context(request: Request, rs: RemoteSession, *, base: str, back_href: str) -> dict:
    t = _pages(request).translator(request)
    return {
        "reasons": {r: end_reason(t, r) for r in ("limit", "closed", "agent_lost", "exited", "revoked")},
        "rs": rs,
        "ends": t.datetime(rs.ends_at),
        "ended_reason": end_reason(t, rs.end_reason) if rs.ended_at else "",
        "ws_path": f"{base}/ws",
        "end_action": f"{base}/end",
        "back_href": back_href,
    }


@router.get("/assets/{asset_id}/remote/{session_id}")
async def terminal_page(request: Request, asset_id: str, session_id: str, session: PortalPage) -> Response:
    backends, token = _backends(request), session.principal_token
    asset = await backends.assets.get_asset(token, asset_id[:64])
    try:
        rs = await find_session(backends, token, asset.id, session_id[:64])
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return _unavailable(request, session, back=f"/assets/{asset.id}")
    if rs is None:
        return _pages(request).error(request, NOT_FOUND, session=session)
    ctx = terminal_context(request, rs, base=f"/assets/{asset.id}/remote/{rs.id}", back_href=f"/assets/{asset.id}")
    return _pages(request).render(
        request, "remote/terminal.html", {"a": asset, **ctx}, session=session, inline_styles=True
    )


@router.post("/assets/{asset_id}/remote/{session_id}/end")
async def end_session(request: Request, asset_id: str, session_id: str, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    await _backends(request).remote.end_remote_session(session.principal_token, session_id[:64])
    return RedirectResponse(f"/assets/{asset_id[:64]}/remote/{session_id[:64]}", status_code=303)


def origin_allowed(ws: WebSocket) -> bool:
    """Cross-site WebSocket hijacking: a browser sends the cookie with any page's WebSocket, so only a page of this
    gateway may open one. Its Origin must be the gateway's own: the host the browser asked for (Host) or the
    configured public URL. A client without Origin is no browser page and is refused too."""
    sent = ws.headers.get("origin", "")
    if not sent:
        return False
    parts = urlsplit(sent)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    allowed = {ws.headers.get("host", "").lower()}
    public = urlsplit(ws.app.state.settings.public_url)
    if public.netloc:
        allowed.add(public.netloc.lower())
    return parts.netloc.lower() in allowed - {""}


async def ws_session(ws: WebSocket, cookie: str, *, staff: bool) -> Session | None:
    """The cookie's session for a WebSocket (the page dependencies redirect, which a WebSocket cannot); None when
    there is none, it is dead, or the audience is wrong."""
    token = ws.cookies.get(cookie)
    if not token:
        return None
    try:
        session = await ws.app.state.sessions.resolve(token)
    except grpc.aio.AioRpcError:
        return None
    if session.principal.is_staff != staff:
        return None
    return session


@dataclass
class _Closed:
    code: int
    reason: str


async def relay(ws: WebSocket, backends: Backends, token: str, session_id: str) -> None:
    """The browser's terminal ⇄ remote's Terminal: keystrokes as binary frames, resizes as a JSON text frame
    {"type": "resize", "cols": …, "rows": …}; output as binary frames and, last, a text frame
    {"type": "closed", "reason": …} before the socket closes with that reason."""
    try:
        terminal = await backends.remote.terminal(token, session_id)
    except grpc.aio.AioRpcError:
        await ws.close(CLOSE_UNAVAILABLE, "unavailable")
        return
    await ws.accept()
    closed = _Closed(1000, "closed")

    async def to_browser() -> None:
        try:
            async for event in terminal.events():
                if event.closed is not None:
                    closed.reason = event.closed or "closed"
                    await ws.send_text(json.dumps({"type": "closed", "reason": closed.reason}))
                    return
                await ws.send_bytes(event.output)
        except grpc.aio.AioRpcError as err:
            refused = err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)
            closed.code = CLOSE_FORBIDDEN if refused else CLOSE_UNAVAILABLE
            closed.reason = (err.details() or "refused")[:120] if refused else "unavailable"
            with contextlib.suppress(Exception):
                await ws.send_text(json.dumps({"type": "closed", "reason": closed.reason}))

    async def from_browser() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is not None:
                for i in range(0, len(data), MAX_INPUT_FRAME):
                    await terminal.send_input(data[i : i + MAX_INPUT_FRAME])
                continue
            size = _resize(message.get("text") or "")
            if size:
                await terminal.resize(*size)

    out, inp = asyncio.create_task(to_browser()), asyncio.create_task(from_browser())
    try:
        await asyncio.wait({out, inp}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (out, inp):
            task.cancel()
        await asyncio.gather(out, inp, return_exceptions=True)
        with contextlib.suppress(Exception):
            await terminal.done_writing()
        terminal.cancel()
        if ws.application_state != WebSocketState.DISCONNECTED and ws.client_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await ws.close(closed.code, closed.reason[:120])


def _resize(text: str) -> tuple[int, int] | None:
    if len(text) > 200:
        return None
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    if not isinstance(msg, dict) or msg.get("type") != "resize":
        return None
    cols, rows = msg.get("cols"), msg.get("rows")
    if not all(isinstance(v, int) and 0 < v <= MAX_TERMINAL_SIZE for v in (cols, rows)):
        return None
    return cols, rows


async def serve_terminal(ws: WebSocket, session_id: str, *, cookie: str, staff: bool) -> None:
    """Origin check, then the cookie's session, then the relay; a refused socket is closed before it is accepted
    (the server answers the upgrade with 403). The HTTP middleware does not see WebSocket scopes, so the portal's off
    switch (SPEC P8) and the browser's origin for the backends' records are applied here."""
    origin.bind(ws.scope)
    if not staff:
        controls = await controls_cache(ws.app).get()
        if controls.disabled and controls.redirect_url:
            await ws.close(CLOSE_UNAVAILABLE, "portal off")
            return
    if not origin_allowed(ws):
        await ws.close(CLOSE_FORBIDDEN, "origin")
        return
    session = await ws_session(ws, cookie, staff=staff)
    if session is None:
        await ws.close(CLOSE_UNAUTHENTICATED, "sign in")
        return
    try:
        await relay(ws, ws.app.state.backends, session.principal_token, session_id[:64])
    except WebSocketDisconnect:
        return


@router.websocket("/assets/{asset_id}/remote/{session_id}/ws")
async def terminal_socket(ws: WebSocket, asset_id: str, session_id: str) -> None:
    await serve_terminal(ws, session_id, cookie=SESSION_COOKIE, staff=False)


# --- access requests (X1) ----------------------------------------------------------------------------------------


@router.get("/remote-requests")
async def requests_page(request: Request, session: PortalPage) -> Response:
    pages = _pages(request)
    if not asset_rules.may_view(session.principal):
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    backends, token = _backends(request), session.principal_token
    try:
        page = await backends.remote.list_access_requests(token, page_size=REQUESTS_SHOWN)
    except grpc.aio.AioRpcError as err:
        if err.code() not in rules.DOWN:
            raise
        return _unavailable(request, session, back="/")
    names: dict[str, str] = {}
    with contextlib.suppress(grpc.aio.AioRpcError):
        names = {a.id: a.name for a in (await backends.assets.list_assets(token, page_size=100)).items}
    rows = [request_row(t, r, names) for r in page.items]
    done = request.query_params.get("done", "")
    return pages.render(
        request,
        "remote/requests.html",
        {
            "pending": [r for r in rows if r.status == "pending"],
            "recent": [r for r in rows if r.status != "pending"],
            "done": t(f"remote.requests.done.{done}") if done in ("approved", "declined") else "",
            "error": "",
        },
        session=session,
    )


@router.post("/remote-requests/{request_id}/{decision}")
async def decide(request: Request, request_id: str, decision: str, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if decision not in ("approve", "decline"):
        return _pages(request).error(request, NOT_FOUND, session=session)
    await _backends(request).remote.decide_access_request(
        session.principal_token, request_id[:64], approve=decision == "approve"
    )
    return RedirectResponse(f"/remote-requests?done={decision}d", status_code=303)
