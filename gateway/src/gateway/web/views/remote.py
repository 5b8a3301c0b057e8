"""Remote rows the portal and staff templates show: script runs, agents, access requests, remote sessions."""

from __future__ import annotations

from typing import NamedTuple

from gateway.areas.remote import AgentLine
from gateway.clients.schemas import AccessRequest, Agent, RemoteSession, ScriptRun
from gateway.web.i18n import Translator
from gateway.web.views import status_class


class RunRow(NamedTuple):
    script: str
    status: str
    status_class: str
    exit_code: str
    started: str
    finished: str
    id: str = ""


def run_row(t: Translator, r: ScriptRun) -> RunRow:
    return RunRow(
        r.script_name,
        t.status(r.status),
        status_class(r.status),
        "" if r.shown_exit_code is None else str(r.shown_exit_code),
        t.datetime(r.started_at),
        t.datetime(r.finished_at),
        r.id,
    )


class AgentView(NamedTuple):
    """The "Agent" line: online / offline, last seen … / not installed; `status` is the stable word."""

    status: str
    text: str


def agent_view(t: Translator, line: AgentLine | None) -> AgentView | None:
    if line is None:
        return None
    if line.status == "online":
        return AgentView("online", t("remote.agent.online"))
    if line.status == "offline":
        seen = t.datetime(line.last_seen_at)
        return AgentView("offline", t("remote.agent.offline_seen", when=seen) if seen else t("remote.agent.offline"))
    return AgentView("none", t("remote.agent.none"))


class AgentRow(NamedTuple):
    id: str
    hostname: str
    os: str
    version: str
    status: str
    status_text: str
    last_seen: str
    enrolled: str
    revoked: bool


def agent_row(t: Translator, a: Agent) -> AgentRow:
    if a.revoked_at is not None:
        status = "revoked"
    else:
        status = "online" if a.online else "offline"
    return AgentRow(
        a.id,
        a.hostname,
        a.os,
        a.agent_version,
        status,
        t(f"remote.agent.status.{status}"),
        t.datetime(a.last_seen_at),
        t.datetime(a.enrolled_at),
        a.revoked_at is not None,
    )


class RequestRow(NamedTuple):
    id: str
    asset_id: str
    asset: str
    ticket_id: str
    requested_by: str
    reason: str
    window: str
    status: str
    status_text: str
    requested: str
    decided: str
    window_ends: str


def request_row(t: Translator, r: AccessRequest, asset_names: dict[str, str] | None = None) -> RequestRow:
    return RequestRow(
        r.id,
        r.asset_id,
        (asset_names or {}).get(r.asset_id, "") or r.asset_id,
        r.ticket_id,
        r.requested_by,
        r.reason,
        t("remote.requests.minutes", n=r.window_minutes),
        r.status,
        t(f"remote.requests.status.{r.status}") if r.status else "",
        t.datetime(r.requested_at),
        " · ".join(x for x in (r.decided_by, t.datetime(r.decided_at)) if x),
        t.datetime(r.window_ends_at),
    )


class SessionRow(NamedTuple):
    id: str
    opened_by: str
    kind: str
    started: str
    ends: str
    ended: str
    reason: str
    to_device: int
    from_device: int


def session_row(t: Translator, s: RemoteSession) -> SessionRow:
    return SessionRow(
        s.id,
        s.opened_by,
        s.opened_by_kind,
        t.datetime(s.started_at),
        t.datetime(s.ends_at),
        t.datetime(s.ended_at),
        end_reason(t, s.end_reason),
        s.bytes_to_device,
        s.bytes_from_device,
    )


def end_reason(t: Translator, reason: str) -> str:
    if not reason:
        return ""
    text = t(f"remote.session.reason.{reason}")
    return reason if text.startswith("remote.") else text
