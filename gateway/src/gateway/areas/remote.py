"""Remote access, scripts and device agents: the rules the pages and the JSON API share (SPEC R1-R3, X1, X2).

The remote service decides what a principal may do (it asks assets about every asset with the caller's own token,
and refuses a portal script run without Assets - Run Script); these rules only decide what to offer:

- the Remote action shows on a portal asset when the customer has remote access enabled (C3) and either
  GATEWAY_REMOTE_URL_TEMPLATE is set (a link to the operator's own tool) or the asset's agent is online (a button
  that opens a session on the built-in terminal);
- portal scripts show with Assets - Run Script;
- a portal run is recorded on a ticket: a new one, which remote names at once and tickets opens for the customer
  and the user's contact when the run has finished (recording the run is the system's doing, so Assets - Run
  Script alone is enough), or one of the customer's tickets, checked through the tickets service with the user's
  principal (so picking one needs Tickets - View All or View Mine, and only then are tickets offered).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import grpc

from gateway.clients import Backends
from gateway.clients.remote import WatchEvent
from gateway.clients.schemas import AccessRequest, Agent, Asset, Script, ScriptRun, Ticket
from gateway.edge.sessions import Session
from servicekit import permissions as perm
from servicekit.principal import Principal

# remote.proto: an access window is 5 to 240 minutes, 30 by default.
WINDOW_MIN, WINDOW_MAX, WINDOW_DEFAULT = 5, 240, 30
# A session's time limit: 0 means the service's maximum (REMOTE_SESSION_MAX_MINUTES, 15 by default).
SESSION_MINUTES_MAX = 240
ENROLMENT_MINUTES_DEFAULT, ENROLMENT_MINUTES_MAX = 60, 7 * 24 * 60
REASON_MAX = 1_000
SCRIPT_NAME_MAX = 200
SCRIPT_BODY_MAX = 64 * 1024
SCRIPT_TEXT_MAX = 1_000
SCRIPT_VARIABLES_MAX = 20
SCRIPT_TIMEOUT_MAX = 24 * 3600
VARIABLE_VALUE_MAX = 4_096
LANGUAGES = ("shell", "python")
RUN_FINISHED = ("succeeded", "failed", "timed_out")
PAGE_SIZE = 25
TICKETS_OFFERED = 50
# An unavailable or slow remote leaves its sections out with a notice, and so does one that does not have the call
# yet (a gateway rolled out before remote); other errors are the page's.
DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED)


def may_run_scripts(principal: Principal) -> bool:
    return principal.is_staff or principal.has(perm.ASSETS_RUN_SCRIPT)


def may_pick_tickets(principal: Principal) -> bool:
    """A run may be recorded on an existing ticket the user sees; a new ticket is always offered."""
    return principal.has(perm.TICKETS_VIEW_ALL) or principal.has(perm.TICKETS_VIEW_MINE)


def remote_url(template: str, asset: Asset) -> str:
    """GATEWAY_REMOTE_URL_TEMPLATE with the asset's id and name URL-quoted (nothing of the name stays raw).
    str.replace rather than str.format: any other brace in an operator's URL stays as typed."""
    return template.replace("{asset_id}", quote(asset.id, safe="")).replace("{asset_name}", quote(asset.name, safe=""))


AgentStatus = Literal["online", "offline", "none"]


@dataclass(frozen=True, slots=True)
class AgentLine:
    """The asset's agent as the portal shows it: online / offline (last seen) / not installed."""

    status: AgentStatus
    last_seen_at: datetime | None = None
    agent: Agent | None = None


def agent_line(agents: Iterable[Agent], asset_id: str) -> AgentLine:
    """The asset's live agent (a revoked one counts as none); an online one wins over an offline one."""
    live = [a for a in agents if a.asset_id == asset_id and a.revoked_at is None]
    if not live:
        return AgentLine("none")
    best = max(live, key=lambda a: (a.online, a.last_seen_at.timestamp() if a.last_seen_at else 0.0))
    return AgentLine("online" if best.online else "offline", best.last_seen_at, best)


@dataclass(frozen=True, slots=True)
class RemoteAction:
    """ "link": an anchor to the operator's remote tool; "open": a form posting to open a built-in session."""

    kind: Literal["link", "open"]
    href: str


def remote_action(session: Session, asset: Asset, line: AgentLine | None, template: str) -> RemoteAction | None:
    """The portal's Remote action for the asset, or None when it must not show (see the module's rule). `line` is
    None when remote did not answer: the built-in terminal is then not offered, a template link still is."""
    if session.principal.is_staff or not session.remote_access_enabled or asset.retired_at:
        return None
    if template:
        return RemoteAction("link", remote_url(template, asset))
    if line is not None and line.status == "online":
        return RemoteAction("open", f"/assets/{quote(asset.id, safe='')}/remote")
    return None


async def agents_for(backends: Backends, token: str, asset_ids: Sequence[str]) -> list[Agent] | None:
    """The agents of these assets in one call; None when remote is down (the page then says so)."""
    if not asset_ids:
        return []
    try:
        return await backends.remote.list_agents(token, asset_ids=asset_ids)
    except grpc.aio.AioRpcError as err:
        if err.code() in DOWN:
            return None
        raise


async def portal_scripts(backends: Backends, session: Session) -> list[Script] | None:
    """The portal scripts the user may run (R2, by their self-service names); [] without Assets - Run Script,
    None when remote is down."""
    if not may_run_scripts(session.principal) or session.principal.is_staff:
        return []
    try:
        page = await backends.remote.list_scripts(session.principal_token, page_size=100)
    except grpc.aio.AioRpcError as err:
        if err.code() in DOWN:
            return None
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return []
        raise
    return page.items


async def open_tickets(backends: Backends, token: str, *, customer_id: str = "") -> list[Ticket]:
    """The tickets a run or a request may be recorded on: the customer's open ones, newest first (staff name the
    customer). [] when tickets cannot be listed: the form then offers a new ticket only."""
    try:
        page = await backends.tickets.list_tickets(
            token, page_size=TICKETS_OFFERED, open_only=True, sort="newest", customer_id=customer_id
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (*DOWN, grpc.StatusCode.PERMISSION_DENIED):
            return []
        raise
    return page.items


class TicketRefused(Exception):
    """The ticket chosen for a run is not one of the customer's (or is gone): a 400 naming `ticket_id`."""


async def ticket_for_run(backends: Backends, session: Session, asset: Asset, *, ticket_id: str) -> str:
    """The existing ticket a portal run is recorded on (X2): a ticket the user may see of the asset's customer —
    remote does not check it, tickets records a run only on a ticket of that customer. "" for no ticket_id: the
    run then asks remote for a new ticket (StartScriptRun new_ticket), which tickets opens when the run has
    finished."""
    if not ticket_id:
        return ""
    if not session.principal.is_staff and not may_pick_tickets(session.principal):
        # Without ticket visibility no ticket can be picked (the form offers none).
        raise TicketRefused()
    try:
        ticket = await backends.tickets.get_ticket(session.principal_token, ticket_id)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise TicketRefused() from None
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            # Without ticket visibility no ticket can be picked (the form offers none): the same 400.
            raise TicketRefused() from None
        raise
    if ticket.customer_id != asset.customer_id:
        raise TicketRefused()
    return ticket.id


def pending(requests: Iterable[AccessRequest]) -> list[AccessRequest]:
    return [r for r in requests if r.status == "pending"]


def open_window(requests: Iterable[AccessRequest], now: datetime) -> AccessRequest | None:
    """Staff: the approved request whose window is open now (a session may be opened under it)."""
    for r in requests:
        if r.status == "approved" and r.window_ends_at is not None and r.window_ends_at > now:
            return r
    return None


async def run_with_asset(backends: Backends, token: str, run_id: str) -> tuple[ScriptRun, Asset | None]:
    """A run page's data: the run (remote's refusals propagate) and its asset, or None when the caller may no longer
    see the asset or assets does not answer (the page then names the run without it)."""
    run = await backends.remote.get_script_run(token, run_id[:64])
    try:
        asset = await backends.assets.get_asset(token, run.asset_id)
    except grpc.aio.AioRpcError:
        asset = None
    return run, asset


def run_json(run: ScriptRun) -> str:
    """The finished run as the `finished` server-sent event carries it."""
    return json.dumps(
        {
            "id": run.id,
            "status": run.status,
            "exit_code": run.shown_exit_code,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "truncated": run.truncated,
            "error": run.error,
            "ticket_id": run.ticket_id,
            "new_ticket": run.new_ticket,
        }
    )


def sse_output(text: str, offset: int) -> bytes:
    """An `output` event: one `data:` line per line of device text (the browser joins them with newlines); its id
    is the output's byte offset after it, so a reconnecting EventSource (Last-Event-ID) resumes from there."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return (f"event: output\nid: {offset}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


async def run_events(events: AsyncIterator[WatchEvent], offset: int = 0) -> AsyncIterator[bytes]:
    """WatchScriptRun as text/event-stream: `output` events as the device writes, then one `finished` event with the
    run as JSON. EventSource would reconnect when the stream ends; the page closes it on `finished`."""
    yield b"retry: 3000\n\n"
    async for event in events:
        if event.finished is not None:
            yield f"event: finished\ndata: {run_json(event.finished)}\n\n".encode()
            return
        if event.output:
            offset += len(event.output.encode())
            yield sse_output(event.output, offset)


async def finished_events(run: ScriptRun) -> AsyncIterator[bytes]:
    """A run that had already finished: its whole output and the `finished` event."""
    yield b"retry: 3000\n\n"
    if run.output:
        yield sse_output(run.output, len(run.output.encode()))
    yield f"event: finished\ndata: {run_json(run)}\n\n".encode()


def watch_offset(last_event_id: str | None) -> int:
    """Where a reconnecting stream resumes: the byte offset its last event carried (0 for a fresh stream)."""
    if not last_event_id or not last_event_id.isdigit() or len(last_event_id) > 12:
        return 0
    return int(last_event_id)


SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


async def run_event_stream(
    backends: Backends, token: str, run_id: str, last_event_id: str | None = None
) -> AsyncIterator[bytes]:
    """A run's server-sent events: the whole output and `finished` for a run that has finished, else WatchScriptRun
    relayed live. The run is read (and the watch opened) before this returns, so NOT_FOUND or UNAVAILABLE is
    raised while the route can still answer a problem."""
    run = await backends.remote.get_script_run(token, run_id)
    offset = watch_offset(last_event_id)
    if run.finished and not offset:
        return finished_events(run)
    return run_events(await backends.remote.watch_script_run(token, run.id, offset=offset), offset)
