"""RemoteService: device agents, the script catalogue and runs, remote sessions with their terminal, and the access
requests staff send customers (SPEC R1-R3, X1, X2). Every call carries the caller's principal token; remote checks
each asset with the assets service under that token, so another customer's asset is NOT_FOUND from there."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import grpc

from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import (
    AccessRequest,
    Agent,
    EnrolmentToken,
    Page,
    RemoteSession,
    Script,
    ScriptRun,
    ScriptVariable,
    opt_datetime,
)
from gateway.edge import origin
from portal.common.v1 import common_pb2
from portal.remote.v1 import remote_pb2, remote_pb2_grpc
from servicekit.grpc_client import call_options

# A terminal lives at most as long as the longest session the service allows (REMOTE_SESSION_MAX_MINUTES, an access
# window at most 240 minutes); the deadline only bounds a stream nobody closed.
TERMINAL_DEADLINE_SECONDS = 4 * 3600.0
# A run's watch ends when the run finishes; its deadline bounds a run that never reports back.
WATCH_DEADLINE_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One message of WatchScriptRun: output text as it arrives, or the finished run (the last message)."""

    output: str = ""
    finished: ScriptRun | None = None


@dataclass(frozen=True, slots=True)
class TerminalEvent:
    """One message of Terminal: bytes from the device, or why it ended (the last message)."""

    output: bytes = b""
    closed: str | None = None


class Terminal:
    """The open bidirectional Terminal call of one session (the caller attached it already)."""

    def __init__(self, call: grpc.aio.StreamStreamCall) -> None:
        self._call = call

    async def send_input(self, data: bytes) -> None:
        await self._call.write(remote_pb2.TerminalRequest(input=data))

    async def resize(self, cols: int, rows: int) -> None:
        await self._call.write(remote_pb2.TerminalRequest(resize=remote_pb2.TerminalSize(cols=cols, rows=rows)))

    async def done_writing(self) -> None:
        await self._call.done_writing()

    async def events(self) -> AsyncIterator[TerminalEvent]:
        while (msg := await self._call.read()) is not grpc.aio.EOF:
            kind = msg.WhichOneof("kind")
            if kind == "output":
                yield TerminalEvent(output=msg.output)
            elif kind == "closed":
                yield TerminalEvent(closed=msg.closed)
                return

    def cancel(self) -> None:
        self._call.cancel()


def _script_proto(script: Script) -> remote_pb2.Script:
    return remote_pb2.Script(
        id=script.id,
        name=script.name,
        language=script.language,
        body=script.body,
        variables=[
            remote_pb2.ScriptVariable(name=v.name, label=v.label, default_value=v.default_value, required=v.required)
            for v in script.variables
        ],
        timeout_seconds=script.timeout_seconds,
        portal=script.portal,
        portal_name=script.portal_name,
        portal_confirmation=script.portal_confirmation,
    )


def _page(page_size: int, cursor: str) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=page_size, cursor=cursor)


class RemoteClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = remote_pb2_grpc.RemoteServiceStub(channel)
        self._call = Caller("remote", timeout)

    # --- script runs -----------------------------------------------------------------------------------------------

    @cached("remote")
    async def list_script_runs(
        self, token: str, *, page_size: int = 0, cursor: str = "", asset_id: str = ""
    ) -> Page[ScriptRun]:
        req = remote_pb2.ListScriptRunsRequest(page=_page(page_size, cursor), asset_id=asset_id)
        resp = await self._call(self._stub.ListScriptRuns, req, token)
        return Page(
            items=[ScriptRun.from_proto(r) for r in resp.script_runs], next_cursor=resp.page.next_cursor or None
        )

    async def start_script_run(
        self,
        token: str,
        *,
        script_id: str,
        asset_id: str,
        variables: Mapping[str, str] | None = None,
        ticket_id: str = "",
        new_ticket: bool = False,
        idempotency_key: str = "",
    ) -> ScriptRun:
        req = remote_pb2.StartScriptRunRequest(
            script_id=script_id,
            asset_id=asset_id,
            variables=dict(variables or {}),
            ticket_id=ticket_id,
            new_ticket=new_ticket,
            idempotency_key=idempotency_key,
        )
        return ScriptRun.from_proto((await self._call(self._stub.StartScriptRun, req, token)).run)

    async def get_script_run(self, token: str, run_id: str) -> ScriptRun:
        req = remote_pb2.GetScriptRunRequest(run_id=run_id)
        return ScriptRun.from_proto((await self._call(self._stub.GetScriptRun, req, token)).run)

    async def watch_script_run(self, token: str, run_id: str, *, offset: int = 0) -> AsyncIterator[WatchEvent]:
        """The run's output from `offset` bytes as it arrives, then the finished run. The first message is awaited
        before this returns, so a refusal (NOT_FOUND, UNAVAILABLE) is raised here, before any answer starts."""
        req = remote_pb2.WatchScriptRunRequest(run_id=run_id, offset=offset)
        first, rest = await self._call.server_stream(
            self._stub.WatchScriptRun, req, token, deadline=WATCH_DEADLINE_SECONDS
        )

        def convert(msg: remote_pb2.WatchScriptRunResponse) -> WatchEvent:
            if msg.WhichOneof("kind") == "finished":
                return WatchEvent(finished=ScriptRun.from_proto(msg.finished))
            return WatchEvent(output=msg.output)

        async def events() -> AsyncIterator[WatchEvent]:
            yield convert(first)
            async for msg in rest:
                yield convert(msg)

        return events()

    # --- agents ----------------------------------------------------------------------------------------------------

    async def create_enrolment_token(self, token: str, asset_id: str, *, valid_minutes: int = 0) -> EnrolmentToken:
        req = remote_pb2.CreateEnrolmentTokenRequest(asset_id=asset_id, valid_minutes=valid_minutes)
        resp = await self._call(self._stub.CreateEnrolmentToken, req, token)
        return EnrolmentToken.model_construct(token=resp.token, expires_at=opt_datetime(resp, "expires_at"))

    @cached("remote")
    async def list_agents(self, token: str, *, asset_ids: Sequence[str] = (), customer_id: str = "") -> list[Agent]:
        req = remote_pb2.ListAgentsRequest(asset_ids=list(asset_ids), customer_id=customer_id)
        return [Agent.from_proto(a) for a in (await self._call(self._stub.ListAgents, req, token)).agents]

    async def revoke_agent(self, token: str, agent_id: str) -> Agent:
        req = remote_pb2.RevokeAgentRequest(agent_id=agent_id)
        return Agent.from_proto((await self._call(self._stub.RevokeAgent, req, token)).agent)

    # --- the script catalogue --------------------------------------------------------------------------------------

    async def list_scripts(
        self, token: str, *, page_size: int = 0, cursor: str = "", portal_only: bool = False
    ) -> Page[Script]:
        req = remote_pb2.ListScriptsRequest(page=_page(page_size, cursor), portal_only=portal_only)
        resp = await self._call(self._stub.ListScripts, req, token)
        return Page(items=[Script.from_proto(s) for s in resp.scripts], next_cursor=resp.page.next_cursor or None)

    async def get_script(self, token: str, script_id: str) -> Script:
        req = remote_pb2.GetScriptRequest(script_id=script_id)
        return Script.from_proto((await self._call(self._stub.GetScript, req, token)).script)

    async def create_script(self, token: str, script: Script, *, idempotency_key: str = "") -> Script:
        req = remote_pb2.CreateScriptRequest(script=_script_proto(script), idempotency_key=idempotency_key)
        return Script.from_proto((await self._call(self._stub.CreateScript, req, token)).script)

    async def update_script(self, token: str, script: Script) -> Script:
        req = remote_pb2.UpdateScriptRequest(script=_script_proto(script))
        return Script.from_proto((await self._call(self._stub.UpdateScript, req, token)).script)

    async def delete_script(self, token: str, script_id: str) -> None:
        await self._call(self._stub.DeleteScript, remote_pb2.DeleteScriptRequest(script_id=script_id), token)

    # --- remote sessions -------------------------------------------------------------------------------------------

    async def open_remote_session(
        self, token: str, asset_id: str, *, access_request_id: str = "", minutes: int = 0
    ) -> RemoteSession:
        req = remote_pb2.OpenRemoteSessionRequest(
            asset_id=asset_id, access_request_id=access_request_id, minutes=minutes
        )
        return RemoteSession.from_proto((await self._call(self._stub.OpenRemoteSession, req, token)).session)

    async def end_remote_session(self, token: str, session_id: str) -> RemoteSession:
        req = remote_pb2.EndRemoteSessionRequest(session_id=session_id)
        return RemoteSession.from_proto((await self._call(self._stub.EndRemoteSession, req, token)).session)

    async def list_remote_sessions(
        self, token: str, *, page_size: int = 0, cursor: str = "", asset_id: str = "", customer_id: str = ""
    ) -> Page[RemoteSession]:
        req = remote_pb2.ListRemoteSessionsRequest(
            page=_page(page_size, cursor), asset_id=asset_id, customer_id=customer_id
        )
        resp = await self._call(self._stub.ListRemoteSessions, req, token)
        return Page(
            items=[RemoteSession.from_proto(s) for s in resp.sessions], next_cursor=resp.page.next_cursor or None
        )

    async def terminal(self, token: str, session_id: str) -> Terminal:
        """Open the session's Terminal and attach it (the first message). Refusals (PERMISSION_DENIED: not the
        opener, already attached or ended) come with the first read of `events()`."""
        options = call_options(token, timeout=TERMINAL_DEADLINE_SECONDS)
        options["metadata"] = grpc.aio.Metadata(*options.get("metadata", ()), *origin.metadata())
        call = self._stub.Terminal(**options)
        await call.write(remote_pb2.TerminalRequest(attach_session_id=session_id))
        return Terminal(call)

    # --- access requests (X1) --------------------------------------------------------------------------------------

    async def request_remote_access(
        self,
        token: str,
        asset_id: str,
        *,
        ticket_id: str,
        window_minutes: int = 0,
        reason: str = "",
        idempotency_key: str = "",
    ) -> AccessRequest:
        req = remote_pb2.RequestRemoteAccessRequest(
            asset_id=asset_id,
            ticket_id=ticket_id,
            window_minutes=window_minutes,
            reason=reason,
            idempotency_key=idempotency_key,
        )
        return AccessRequest.from_proto((await self._call(self._stub.RequestRemoteAccess, req, token)).request)

    @cached("remote")
    async def list_access_requests(
        self,
        token: str,
        *,
        page_size: int = 0,
        cursor: str = "",
        asset_id: str = "",
        status: str = "",
        customer_id: str = "",
        deadline: float | None = None,
    ) -> Page[AccessRequest]:
        req = remote_pb2.ListAccessRequestsRequest(
            page=_page(page_size, cursor), asset_id=asset_id, status=status, customer_id=customer_id
        )
        resp = await self._call(self._stub.ListAccessRequests, req, token, deadline=deadline)
        return Page(
            items=[AccessRequest.from_proto(r) for r in resp.requests], next_cursor=resp.page.next_cursor or None
        )

    async def decide_access_request(self, token: str, request_id: str, *, approve: bool) -> AccessRequest:
        req = remote_pb2.DecideAccessRequestRequest(request_id=request_id, approve=approve)
        return AccessRequest.from_proto((await self._call(self._stub.DecideAccessRequest, req, token)).request)


__all__ = ["RemoteClient", "ScriptVariable", "Terminal", "TerminalEvent", "WatchEvent"]
