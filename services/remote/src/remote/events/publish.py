"""The events remote publishes (messages in portal/remote/v1/events.proto), each written to the outbox in the unit
of work of the change it reports; this module imports models only. Never a token, key, script body, variable
value or full output: a run's event carries the last 2,000 characters of its output for the ticket's note."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from portal.remote.v1 import events_pb2
from remote.access_requests.models import AccessRequest
from remote.agents.models import Agent
from remote.script_runs.models import ScriptRun
from remote.sessions.models import RemoteSession
from servicekit.events import add_event, subject
from servicekit.protos import timestamp

SCRIPT_RUN_FINISHED = subject("remote", "script_run_finished")
REMOTE_SESSION_ENDED = subject("remote", "remote_session_ended")
ACCESS_REQUESTED = subject("remote", "access_requested")
ACCESS_DECIDED = subject("remote", "access_decided")
AGENT_STATUS_CHANGED = subject("remote", "agent_status_changed")

OUTPUT_TAIL_CHARS = 2000


async def script_run_finished(session: AsyncSession, run: ScriptRun, output: str) -> None:
    msg = events_pb2.ScriptRunFinished(
        script_run_id=run.id,
        asset_id=run.asset_id,
        exit_code=run.exit_code or 0,
        ticket_id=run.ticket_id,
        script_name=run.script_name,
        status=run.status,
        requested_by=run.requested_by,
        started_at=timestamp(run.started_at),
        output_tail=output[-OUTPUT_TAIL_CHARS:],
        error=run.error,
        new_ticket=bool(run.new_ticket),
        contact_id=run.contact_id or "",
        asset_name=run.asset_name or "",
    )
    if run.finished_at is not None:
        msg.finished_at.CopyFrom(timestamp(run.finished_at))
    await add_event(session, SCRIPT_RUN_FINISHED, msg, customer_id=run.customer_id)


async def remote_session_ended(session: AsyncSession, rs: RemoteSession) -> None:
    msg = events_pb2.RemoteSessionEnded(
        session_id=rs.id,
        asset_id=rs.asset_id,
        ticket_id=rs.ticket_id,
        opened_by_kind=rs.opened_by_kind,
        opened_by=rs.opened_by,
        started_at=timestamp(rs.started_at),
        end_reason=rs.end_reason,
        bytes_to_device=rs.bytes_to_device,
        bytes_from_device=rs.bytes_from_device,
    )
    if rs.ended_at is not None:
        msg.ended_at.CopyFrom(timestamp(rs.ended_at))
    await add_event(session, REMOTE_SESSION_ENDED, msg, customer_id=rs.customer_id)


async def access_requested(session: AsyncSession, req: AccessRequest, asset_name: str, asset_contact_id: str) -> None:
    """Identity emails the customer's users who may see the asset: its contact tells it whose "Mine" view shows it."""
    msg = events_pb2.AccessRequested(
        request_id=req.id,
        asset_id=req.asset_id,
        ticket_id=req.ticket_id,
        requested_by=req.requested_by,
        reason=req.reason,
        window_minutes=req.window_minutes,
        asset_name=asset_name,
        asset_contact_id=asset_contact_id,
    )
    await add_event(session, ACCESS_REQUESTED, msg, customer_id=req.customer_id)


async def access_decided(session: AsyncSession, req: AccessRequest) -> None:
    msg = events_pb2.AccessDecided(
        request_id=req.id,
        asset_id=req.asset_id,
        ticket_id=req.ticket_id,
        approved=req.status == "approved",
        decided_by=req.decided_by,
    )
    if req.window_ends_at is not None:
        msg.window_ends_at.CopyFrom(timestamp(req.window_ends_at))
    await add_event(session, ACCESS_DECIDED, msg, customer_id=req.customer_id)


async def agent_status_changed(session: AsyncSession, agent: Agent, status: str) -> None:
    msg = events_pb2.AgentStatusChanged(agent_id=agent.id, asset_id=agent.asset_id, status=status)
    await add_event(session, AGENT_STATUS_CHANGED, msg, customer_id=agent.customer_id)
