"""portal.remote.v1.RemoteService: proto ⇄ domain; the rules live in the aggregates' service modules.

Every asset named by a request is checked with the assets service, as the caller (its own principal token): an
asset it may not see is NOT_FOUND, and the asset's customer is the one assets answers.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
from sqlalchemy.exc import IntegrityError

from portal.common.v1 import common_pb2
from portal.remote.v1 import agent_pb2, remote_pb2, remote_pb2_grpc
from remote import metrics
from remote.access_requests import service as access
from remote.access_requests.models import APPROVED, AccessRequest
from remote.agents import service as agents
from remote.agents.models import Agent
from remote.assets_client import AssetInfo, AssetsClient, caller_token
from remote.broker import routing
from remote.broker.routing import AgentOffline, Broker
from remote.customers import service as customers
from remote.script_runs import service as script_runs
from remote.script_runs.models import FAILED, QUEUED, RUNNING, ScriptRun
from remote.scripts import service as scripts
from remote.scripts.models import Script
from remote.sessions import service as sessions
from remote.sessions.models import RemoteSession
from servicekit.db import Database, new_id, utcnow
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.pagination import page_size
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, current_principal, visibility
from servicekit.protos import timestamp

log = logging.getLogger(__name__)

OFFLINE_ERROR = "the device is offline"
# How often a watcher re-reads the run while waiting (a finish it missed on NATS is still seen).
WATCH_POLL_SECONDS = 5.0
# What a slow watcher or terminal client may leave waiting in memory: past it NATS drops the subscription's
# messages (a watcher then reads the gap from the database; a terminal loses screen output, never input).
LIVE_QUEUE = 256
LIVE_LIMITS = {"pending_msgs_limit": 1024, "pending_bytes_limit": 8 * 1024 * 1024}


@dataclass(frozen=True)
class Limits:
    heartbeat_seconds: int = 10
    max_output_bytes: int = 65536
    session_max_minutes: float = 15


class RemoteServicer(remote_pb2_grpc.RemoteServiceServicer):
    def __init__(
        self, db: Database, *, assets: AssetsClient | None = None, broker: Broker | None = None, limits: Limits
    ) -> None:
        self.db = db
        self.assets = assets
        self.broker = broker
        self.limits = limits
        self._tasks: set[asyncio.Task] = set()

    # --- helpers -------------------------------------------------------------------------------------------

    async def _asset(self, context: grpc.aio.ServicerContext, asset_id: str) -> AssetInfo:
        if self.assets is None:
            raise FailedPrecondition("remote is not connected to the assets service")
        return await self.assets.get(caller_token(context), asset_id)

    def _require_broker(self) -> Broker:
        if self.broker is None:
            raise AgentOffline()
        return self.broker

    def _later(self, coro) -> None:  # noqa: ANN001
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _visible_asset_ids(self, context: grpc.aio.ServicerContext, asset_ids: set[str]) -> set[str]:
        out = set()
        for asset_id in asset_ids:
            if self.assets is not None and await self.assets.visible(caller_token(context), asset_id):
                out.add(asset_id)
        return out

    # --- script runs ---------------------------------------------------------------------------------------

    async def ListScriptRuns(
        self, request: remote_pb2.ListScriptRunsRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.ListScriptRunsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.read() as conn:
            page = await script_runs.list_script_runs(
                conn, principal=principal, page_size=size, cursor=request.page.cursor, asset_id=request.asset_id
            )
        return remote_pb2.ListScriptRunsResponse(
            script_runs=[_script_run(r) for r in page.script_runs],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def StartScriptRun(
        self, request: remote_pb2.StartScriptRunRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.StartScriptRunResponse:
        principal = current_principal()
        if not principal.is_staff:
            scripts.require_portal_runner(principal)
            if request.variables:
                raise InvalidArgument("a portal user cannot set script variables", field="variables")
        if len(request.ticket_id) > 36:
            raise InvalidArgument("ticket_id is not a ticket id", field="ticket_id")
        if request.new_ticket and request.ticket_id:
            raise InvalidArgument("give a ticket_id or ask for a new ticket, not both", field="ticket_id")
        async with self.db.unit_of_work() as s:
            earlier = await scripts.remembered(s, principal, "run", request.idempotency_key)
            if earlier:
                return remote_pb2.StartScriptRunResponse(run=await self._run_msg(s, principal, earlier))
            script = await scripts.get_for(s, principal, request.script_id)
            env = scripts.check_variables(script, dict(request.variables)) if principal.is_staff else {}
        asset = await self._asset(context, request.asset_id)
        broker = self._require_broker()
        try:
            async with self.db.unit_of_work() as s:
                agent = await agents.online_agent_for_asset(
                    s, asset.id, heartbeat_seconds=self.limits.heartbeat_seconds
                )
                if agent is None:
                    raise AgentOffline()
                run = ScriptRun(
                    id=new_id(),
                    customer_id=asset.customer_id,
                    contact_id=None if principal.is_staff else (principal.contact_id or None),
                    asset_id=asset.id,
                    script_id=script.id,
                    script_name=script.name,
                    # A new ticket's id is chosen now, so the run names it from the start; tickets opens it with
                    # this id when the run has finished (SPEC X2).
                    ticket_id=str(uuid.uuid4()) if request.new_ticket else request.ticket_id,
                    new_ticket=request.new_ticket,
                    asset_name=(asset.name or "")[:200],
                    requested_by=_name(principal),
                    agent_id=agent.id,
                    timeout_seconds=script.timeout_seconds,
                    status=QUEUED,
                    started_at=utcnow(),
                )
                s.add(run)
                await s.flush()
                await scripts.remember(s, principal, "run", request.idempotency_key, run.id)
                language, body, timeout = script.language, script.body, script.timeout_seconds
        except IntegrityError:
            async with self.db.unit_of_work() as s:
                earlier = await scripts.remembered(s, principal, "run", request.idempotency_key)
                if not earlier:
                    raise
                return remote_pb2.StartScriptRunResponse(run=await self._run_msg(s, principal, earlier))
        action = agent_pb2.RunScript(
            run_id=run.id,
            language=language,
            body=body,
            env=env,
            timeout_seconds=timeout,
            max_output_bytes=self.limits.max_output_bytes,
        )
        try:
            await broker.send(agent.id, action)
        except AgentOffline:
            # The agent went away since it was last seen: the attempt is kept, failed, and the key forgotten so
            # that the same request may be tried again.
            async with self.db.unit_of_work() as s:
                stored = await s.get(ScriptRun, run.id)
                if stored is not None:
                    await script_runs.finish(s, stored, status=FAILED, error=OFFLINE_ERROR)
                await scripts.forget(s, principal, "run", request.idempotency_key)
            raise
        log.info("script run %s sent to agent %s", run.id, agent.id)
        async with self.db.unit_of_work() as s:
            return remote_pb2.StartScriptRunResponse(run=await self._run_msg(s, principal, run.id))

    async def _run_msg(self, s, principal: Principal, run_id: str, *, output: bool = False) -> remote_pb2.ScriptRun:  # noqa: ANN001
        run = await script_runs.get_visible_run(s, principal=principal, run_id=run_id)
        msg = _script_run(run)
        if output:
            msg.output = await script_runs.output_text(s, run.id)
        return msg

    async def GetScriptRun(
        self, request: remote_pb2.GetScriptRunRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.GetScriptRunResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            return remote_pb2.GetScriptRunResponse(run=await self._run_msg(s, principal, request.run_id, output=True))

    async def WatchScriptRun(
        self, request: remote_pb2.WatchScriptRunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[remote_pb2.WatchScriptRunResponse]:
        principal = current_principal()
        if request.offset < 0:
            raise InvalidArgument("offset must not be negative", field="offset")
        async with self.db.unit_of_work() as s:
            await script_runs.get_visible_run(s, principal=principal, run_id=request.run_id)
        live: asyncio.Queue = asyncio.Queue(maxsize=LIVE_QUEUE)
        sub = None
        if self.broker is not None:
            # Subscribed before the stored output is read: a chunk stored after the read arrives here, and one
            # in both is skipped by its offset.
            sub = await self.broker.nc.subscribe(routing.run_subject(request.run_id), cb=live.put, **LIVE_LIMITS)
            await self.broker.nc.flush(timeout=2)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        position = request.offset
        try:
            while True:
                async with self.db.unit_of_work() as s:
                    chunks = await script_runs.output_chunks(s, request.run_id, position)
                    run = await s.get(ScriptRun, request.run_id)
                for start, data in chunks:
                    if start + len(data) <= position:
                        continue
                    data = data[max(position - start, 0) :]
                    position += len(data)
                    text = decoder.decode(data)
                    if text:
                        yield remote_pb2.WatchScriptRunResponse(output=text)
                if run is None or run.status not in (QUEUED, RUNNING):
                    tail = decoder.decode(b"", final=True)
                    if tail:
                        yield remote_pb2.WatchScriptRunResponse(output=tail)
                    yield remote_pb2.WatchScriptRunResponse(finished=_script_run(run) if run else None)
                    return
                # Live chunks until a gap, the finish, or a quiet while; then the database again.
                while True:
                    try:
                        msg = await asyncio.wait_for(live.get(), WATCH_POLL_SECONDS)
                    except TimeoutError:
                        break
                    report = agent_pb2.ConnectRequest.FromString(msg.data)
                    if report.WhichOneof("kind") != "run_output":
                        break
                    start = int((msg.headers or {}).get(routing.OFFSET, "-1"))
                    data = report.run_output.data
                    if start < 0 or start > position:
                        break
                    if start + len(data) <= position:
                        continue
                    data = data[position - start :]
                    position += len(data)
                    text = decoder.decode(data)
                    if text:
                        yield remote_pb2.WatchScriptRunResponse(output=text)
        finally:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    # --- agents --------------------------------------------------------------------------------------------

    async def CreateEnrolmentToken(
        self, request: remote_pb2.CreateEnrolmentTokenRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.CreateEnrolmentTokenResponse:
        principal = current_principal()
        scripts.require_staff(principal)
        asset = await self._asset(context, request.asset_id)
        async with self.db.unit_of_work() as s:
            new = await agents.create_enrolment_token(
                s,
                asset_id=asset.id,
                customer_id=asset.customer_id,
                created_by=_name(principal),
                valid_minutes=request.valid_minutes,
            )
        return remote_pb2.CreateEnrolmentTokenResponse(token=new.token, expires_at=timestamp(new.expires_at))

    async def ListAgents(
        self, request: remote_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.ListAgentsResponse:
        principal = current_principal()
        asset_ids = list(dict.fromkeys(request.asset_ids)) or None
        if principal.is_staff:
            customer_id = request.customer_id or None
        else:
            if request.customer_id:
                raise PermissionDenied("only staff list agents by customer")
            if len(request.asset_ids) > 100:
                raise InvalidArgument("at most 100 assets", field="asset_ids")
            asset_ids = sorted(await self._visible_asset_ids(context, set(asset_ids or ())))
            customer_id = None
        async with self.db.unit_of_work() as s:
            rows = await agents.list_agents(s, asset_ids=asset_ids, customer_id=customer_id)
            return remote_pb2.ListAgentsResponse(agents=[self._agent(a) for a in rows])

    async def RevokeAgent(
        self, request: remote_pb2.RevokeAgentRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.RevokeAgentResponse:
        principal = current_principal()
        scripts.require_staff(principal)
        async with self.db.unit_of_work() as s:
            agent = await agents.revoke(s, request.agent_id)
            msg = self._agent(agent)
        if self.broker is not None:
            await self.broker.notify(agent.id, routing.NOTICE_REVOKE)
        log.info("agent %s revoked", agent.id)
        return remote_pb2.RevokeAgentResponse(agent=msg)

    def _agent(self, a: Agent) -> remote_pb2.Agent:
        msg = remote_pb2.Agent(
            id=a.id,
            asset_id=a.asset_id,
            customer_id=a.customer_id,
            hostname=a.hostname,
            os=a.os,
            agent_version=a.version,
            online=agents.is_online(a, heartbeat_seconds=self.limits.heartbeat_seconds),
            enrolled_at=timestamp(a.enrolled_at),
        )
        if a.last_seen_at is not None:
            msg.last_seen_at.CopyFrom(timestamp(a.last_seen_at))
        if a.revoked_at is not None:
            msg.revoked_at.CopyFrom(timestamp(a.revoked_at))
        return msg

    # --- scripts -------------------------------------------------------------------------------------------

    async def ListScripts(
        self, request: remote_pb2.ListScriptsRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.ListScriptsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            rows = await scripts.list_scripts(s, principal, portal_only=request.portal_only)
        start = 0
        if request.page.cursor:
            ids = [r.id for r in rows]
            if request.page.cursor not in ids:
                raise InvalidArgument("the cursor is not valid", field="cursor")
            start = ids.index(request.page.cursor) + 1
        page = rows[start : start + size]
        more = start + size < len(rows)
        return remote_pb2.ListScriptsResponse(
            scripts=[_script(r, principal) for r in page],
            page=common_pb2.PageResponse(next_cursor=page[-1].id if more and page else ""),
        )

    async def GetScript(
        self, request: remote_pb2.GetScriptRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.GetScriptResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            return remote_pb2.GetScriptResponse(
                script=_script(await scripts.get_for(s, principal, request.script_id), principal)
            )

    async def CreateScript(
        self, request: remote_pb2.CreateScriptRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.CreateScriptResponse:
        principal = current_principal()
        scripts.require_staff(principal)
        try:
            async with self.db.unit_of_work() as s:
                earlier = await scripts.remembered(s, principal, "script", request.idempotency_key)
                if earlier:
                    return remote_pb2.CreateScriptResponse(script=_script(await scripts.get(s, earlier), principal))
                script = await scripts.create(s, _fields(request.script))
                await scripts.remember(s, principal, "script", request.idempotency_key, script.id)
                msg = _script(script, principal)
        except IntegrityError:
            async with self.db.unit_of_work() as s:
                earlier = await scripts.remembered(s, principal, "script", request.idempotency_key)
                if not earlier:
                    raise
                return remote_pb2.CreateScriptResponse(script=_script(await scripts.get(s, earlier), principal))
        return remote_pb2.CreateScriptResponse(script=msg)

    async def UpdateScript(
        self, request: remote_pb2.UpdateScriptRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.UpdateScriptResponse:
        principal = current_principal()
        scripts.require_staff(principal)
        async with self.db.unit_of_work() as s:
            script = await scripts.update(s, request.script.id, _fields(request.script))
            return remote_pb2.UpdateScriptResponse(script=_script(script, principal))

    async def DeleteScript(
        self, request: remote_pb2.DeleteScriptRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.DeleteScriptResponse:
        scripts.require_staff(current_principal())
        async with self.db.unit_of_work() as s:
            await scripts.delete(s, request.script_id)
        return remote_pb2.DeleteScriptResponse()

    # --- remote sessions -----------------------------------------------------------------------------------

    async def OpenRemoteSession(
        self, request: remote_pb2.OpenRemoteSessionRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.OpenRemoteSessionResponse:
        principal = current_principal()
        if principal.is_link:
            raise PermissionDenied("a secure link cannot open a remote session")
        asset = await self._asset(context, request.asset_id)
        if request.minutes < 0:
            raise InvalidArgument("minutes must not be negative", field="minutes")
        now = utcnow()
        minutes = request.minutes if 0 < request.minutes <= self.limits.session_max_minutes else 0
        ends_at = now + timedelta(minutes=minutes or self.limits.session_max_minutes)
        ticket_id = ""
        async with self.db.unit_of_work() as s:
            if principal.is_staff:
                if not request.access_request_id:
                    raise PermissionDenied("staff need an approved access request for this asset (X1)")
                req = await s.get(AccessRequest, request.access_request_id)
                if req is None or req.asset_id != asset.id:
                    raise PermissionDenied("no approved access request for this asset")
                status = access.status_of(req, now)
                if status != APPROVED:
                    raise PermissionDenied(f"the access request is {status}, not approved with its window open")
                assert req.window_ends_at is not None
                ends_at = min(ends_at, req.window_ends_at)
                ticket_id = req.ticket_id
            elif not await customers.remote_access_enabled(s, asset.customer_id):
                raise PermissionDenied("remote access is not enabled for this organisation")
            agent = await agents.online_agent_for_asset(s, asset.id, heartbeat_seconds=self.limits.heartbeat_seconds)
            if agent is None:
                raise AgentOffline()
            rs = await sessions.create(
                s,
                principal=principal,
                customer_id=asset.customer_id,
                asset_id=asset.id,
                agent_id=agent.id,
                ends_at=ends_at,
                ticket_id=ticket_id,
                access_request_id=request.access_request_id if principal.is_staff else "",
            )
            return remote_pb2.OpenRemoteSessionResponse(session=_session(rs))

    async def Terminal(
        self, request_iterator: AsyncIterator[remote_pb2.TerminalRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[remote_pb2.TerminalResponse]:
        principal = current_principal()
        requests = aiter(request_iterator)
        try:
            first = await asyncio.wait_for(anext(requests), 30)
        except (StopAsyncIteration, TimeoutError):
            raise InvalidArgument("the first message must attach a session", field="attach_session_id") from None
        if first.WhichOneof("kind") != "attach_session_id":
            raise InvalidArgument("the first message must attach a session", field="attach_session_id")
        broker = self._require_broker()
        async with self.db.unit_of_work() as s:
            rs = await sessions.attach(s, principal=principal, session_id=first.attach_session_id)
            session_id, agent_id, ends_at = rs.id, rs.agent_id, rs.ends_at
        events: asyncio.Queue = asyncio.Queue(maxsize=LIVE_QUEUE)
        sub = await broker.nc.subscribe(routing.session_subject(session_id), cb=events.put, **LIVE_LIMITS)
        await broker.nc.flush(timeout=2)
        counts = {"to": 0, "from": 0}
        reason = "closed"
        metrics.SESSIONS_OPEN.inc()
        reader: asyncio.Task | None = None
        try:
            try:
                await broker.send(
                    agent_id,
                    agent_pb2.OpenTerminal(session_id=session_id, cols=80, rows=24, ends_at=timestamp(ends_at)),
                )
            except AgentOffline:
                reason = "agent_lost"
                yield remote_pb2.TerminalResponse(closed=reason)
                return

            async def read() -> None:
                try:
                    async for msg in requests:
                        kind = msg.WhichOneof("kind")
                        if kind == "input" and msg.input:
                            counts["to"] += len(msg.input)
                            await broker.send(agent_id, agent_pb2.TerminalInput(session_id=session_id, data=msg.input))
                        elif kind == "resize":
                            cols, rows = min(max(msg.resize.cols, 1), 1000), min(max(msg.resize.rows, 1), 1000)
                            await broker.send(
                                agent_id, agent_pb2.ResizeTerminal(session_id=session_id, cols=cols, rows=rows)
                            )
                    await events.put("client_closed")
                except AgentOffline:
                    await events.put("agent_lost")
                except (grpc.aio.AioRpcError, asyncio.CancelledError):
                    await events.put("client_closed")

            reader = asyncio.create_task(read())
            while True:
                remaining = (ends_at - utcnow()).total_seconds()
                try:
                    item = await asyncio.wait_for(events.get(), max(remaining, 0))
                except TimeoutError:
                    reason = "limit"
                    break
                if item == "client_closed":
                    reason = "closed"
                    break
                if item == "agent_lost":
                    reason = "agent_lost"
                    break
                report = agent_pb2.ConnectRequest.FromString(item.data)
                kind = report.WhichOneof("kind")
                if kind == "terminal_output":
                    counts["from"] += len(report.terminal_output.data)
                    yield remote_pb2.TerminalResponse(output=report.terminal_output.data)
                elif kind == "terminal_closed":
                    told = report.terminal_closed.reason
                    reason = told if told in ("limit", "closed", "agent_lost", "revoked") else "exited"
                    break
            yield remote_pb2.TerminalResponse(closed=reason)
        finally:
            metrics.SESSIONS_OPEN.dec()
            if reader is not None:
                reader.cancel()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            # In a task of its own: it runs even when the client's call was cancelled (the browser went away).
            self._later(self._end_session(session_id, reason, counts, close=(broker, agent_id)))

    async def _end_session(
        self, session_id: str, reason: str, counts: dict[str, int], *, close: tuple[Broker, str] | None = None
    ) -> None:
        try:
            if close is not None and reason in ("limit", "closed"):
                # The device's terminal goes too (it would close itself at ends_at otherwise).
                broker, agent_id = close
                with contextlib.suppress(AgentOffline):
                    await broker.send(agent_id, agent_pb2.CloseTerminal(session_id=session_id))
            async with self.db.unit_of_work() as s:
                await sessions.end(
                    s, session_id, reason, bytes_to_device=counts["to"], bytes_from_device=counts["from"]
                )
        except Exception:
            log.exception("remote session %s: recording its end failed", session_id)

    async def EndRemoteSession(
        self, request: remote_pb2.EndRemoteSessionRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.EndRemoteSessionResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rs = await s.get(RemoteSession, request.session_id) if request.session_id else None
            opener = rs is not None and rs.opener_kind == principal.kind and rs.opener_subject == principal.subject_id
            if rs is None or not (opener or principal.is_staff):
                raise NotFound("no such remote session", field="session_id")
            attached, agent_id = rs.attached_at is not None, rs.agent_id
            if not attached:
                await sessions.end(s, rs.id, "closed")
        if attached and rs.ended_at is None and self.broker is not None:
            # The relay holding the terminal ends it and records the byte counts.
            note = agent_pb2.ConnectRequest(terminal_closed=agent_pb2.TerminalClosed(session_id=rs.id, reason="closed"))
            await self.broker.nc.publish(routing.session_subject(rs.id), note.SerializeToString())
            with contextlib.suppress(AgentOffline):
                await self.broker.send(agent_id, agent_pb2.CloseTerminal(session_id=rs.id))
            for _ in range(20):
                await asyncio.sleep(0.1)
                async with self.db.unit_of_work() as s:
                    if (await s.get(RemoteSession, rs.id)).ended_at is not None:  # type: ignore[union-attr]
                        break
        async with self.db.unit_of_work() as s:
            return remote_pb2.EndRemoteSessionResponse(session=_session(await s.get(RemoteSession, rs.id)))

    async def ListRemoteSessions(
        self, request: remote_pb2.ListRemoteSessionsRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.ListRemoteSessionsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        customer_ids = self._customer_scope(principal, request.customer_id)
        asset_ids = [request.asset_id] if request.asset_id else None
        async with self.db.unit_of_work() as s:
            rows, cursor = await sessions.list_sessions(
                s, customer_ids=customer_ids, asset_ids=asset_ids, page_size=size, cursor=request.page.cursor
            )
        if not principal.is_staff:
            visible = await self._visible_asset_ids(context, {r.asset_id for r in rows})
            rows = [r for r in rows if r.asset_id in visible]
        return remote_pb2.ListRemoteSessionsResponse(
            sessions=[_session(r) for r in rows], page=common_pb2.PageResponse(next_cursor=cursor)
        )

    def _customer_scope(self, principal: Principal, customer_id: str) -> tuple[str, ...] | None:
        if principal.is_staff:
            return (customer_id,) if customer_id else None
        if customer_id:
            raise PermissionDenied("only staff choose the customer")
        scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
        return scope.customer_ids

    # --- access requests (X1) ------------------------------------------------------------------------------

    async def RequestRemoteAccess(
        self, request: remote_pb2.RequestRemoteAccessRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.RequestRemoteAccessResponse:
        principal = current_principal()
        scripts.require_staff(principal)
        asset = await self._asset(context, request.asset_id)
        try:
            async with self.db.unit_of_work() as s:
                earlier = await scripts.remembered(s, principal, "access", request.idempotency_key)
                if earlier:
                    return remote_pb2.RequestRemoteAccessResponse(request=_access(await access.get(s, earlier)))
                req = await access.request_access(
                    s,
                    principal=principal,
                    customer_id=asset.customer_id,
                    asset_id=asset.id,
                    asset_name=asset.name,
                    asset_contact_id=asset.contact_id,
                    ticket_id=request.ticket_id,
                    window_minutes=request.window_minutes,
                    reason=request.reason,
                )
                await scripts.remember(s, principal, "access", request.idempotency_key, req.id)
                return remote_pb2.RequestRemoteAccessResponse(request=_access(req))
        except IntegrityError:
            async with self.db.unit_of_work() as s:
                earlier = await scripts.remembered(s, principal, "access", request.idempotency_key)
                if not earlier:
                    raise
                return remote_pb2.RequestRemoteAccessResponse(request=_access(await access.get(s, earlier)))

    async def ListAccessRequests(
        self, request: remote_pb2.ListAccessRequestsRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.ListAccessRequestsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        customer_ids = self._customer_scope(principal, request.customer_id)
        async with self.db.unit_of_work() as s:
            rows, cursor = await access.list_requests(
                s,
                customer_ids=customer_ids,
                asset_id=request.asset_id,
                status=request.status,
                page_size=size,
                cursor=request.page.cursor,
            )
        if not principal.is_staff:
            visible = await self._visible_asset_ids(context, {r.asset_id for r in rows})
            rows = [r for r in rows if r.asset_id in visible]
        return remote_pb2.ListAccessRequestsResponse(
            requests=[_access(r) for r in rows], page=common_pb2.PageResponse(next_cursor=cursor)
        )

    async def DecideAccessRequest(
        self, request: remote_pb2.DecideAccessRequestRequest, context: grpc.aio.ServicerContext
    ) -> remote_pb2.DecideAccessRequestResponse:
        principal = current_principal()
        if principal.is_staff or principal.is_link:
            raise PermissionDenied("only the customer's portal users decide an access request")
        async with self.db.unit_of_work() as s:
            req = await access.get(s, request.request_id)
            asset_id, customer_id = req.asset_id, req.customer_id
        asset = await self.assets.visible(caller_token(context), asset_id) if self.assets else None
        if asset is None or asset.customer_id != customer_id:
            raise NotFound("no such access request", field="request_id")
        async with self.db.unit_of_work() as s:
            req = await access.get(s, request.request_id)
            await access.decide(s, principal=principal, req=req, approve=request.approve)
            return remote_pb2.DecideAccessRequestResponse(request=_access(req))


# --- proto conversion ------------------------------------------------------------------------------------


def _name(principal: Principal) -> str:
    return (principal.display_name or principal.email or principal.subject_id)[:200]


def _script_run(run: ScriptRun) -> remote_pb2.ScriptRun:
    msg = remote_pb2.ScriptRun(
        id=run.id,
        customer_id=run.customer_id,
        asset_id=run.asset_id,
        script_name=run.script_name,
        status=run.status,
        # 0 while the run has not finished; `status` says which.
        exit_code=run.exit_code or 0,
        started_at=timestamp(run.started_at),
        script_id=run.script_id or "",
        ticket_id=run.ticket_id or "",
        truncated=bool(run.truncated),
        error=run.error or "",
        requested_by=run.requested_by or "",
        new_ticket=bool(run.new_ticket),
    )
    if run.finished_at is not None:
        msg.finished_at.CopyFrom(timestamp(run.finished_at))
    return msg


def _fields(msg: remote_pb2.Script) -> scripts.ScriptFields:
    return scripts.ScriptFields(
        name=msg.name,
        language=msg.language,
        body=msg.body,
        variables=[scripts.Variable(v.name, v.label, v.default_value, v.required) for v in msg.variables],
        timeout_seconds=msg.timeout_seconds,
        portal=msg.portal,
        portal_name=msg.portal_name,
        portal_confirmation=msg.portal_confirmation,
    )


def _script(script: Script, principal: Principal) -> remote_pb2.Script:
    staff = principal.is_staff
    return remote_pb2.Script(
        id=script.id,
        name=script.name if staff else (script.portal_name or script.name),
        language=script.language,
        body=script.body if staff else "",
        variables=[
            remote_pb2.ScriptVariable(name=v.name, label=v.label, default_value=v.default_value, required=v.required)
            for v in scripts.variables_of(script)
        ],
        timeout_seconds=script.timeout_seconds,
        portal=script.portal,
        portal_name=script.portal_name,
        portal_confirmation=script.portal_confirmation,
        updated_at=timestamp(script.updated_at),
    )


def _session(rs: RemoteSession) -> remote_pb2.RemoteSession:
    msg = remote_pb2.RemoteSession(
        id=rs.id,
        customer_id=rs.customer_id,
        asset_id=rs.asset_id,
        ticket_id=rs.ticket_id,
        access_request_id=rs.access_request_id,
        opened_by_kind=rs.opened_by_kind,
        opened_by=rs.opened_by,
        started_at=timestamp(rs.started_at),
        ends_at=timestamp(rs.ends_at),
        end_reason=rs.end_reason,
        bytes_to_device=rs.bytes_to_device,
        bytes_from_device=rs.bytes_from_device,
    )
    if rs.ended_at is not None:
        msg.ended_at.CopyFrom(timestamp(rs.ended_at))
    return msg


def _access(req: AccessRequest) -> remote_pb2.AccessRequest:
    msg = remote_pb2.AccessRequest(
        id=req.id,
        customer_id=req.customer_id,
        asset_id=req.asset_id,
        ticket_id=req.ticket_id,
        requested_by=req.requested_by,
        reason=req.reason,
        window_minutes=req.window_minutes,
        status=access.status_of(req),
        requested_at=timestamp(req.requested_at),
        decided_by=req.decided_by,
    )
    if req.decided_at is not None:
        msg.decided_at.CopyFrom(timestamp(req.decided_at))
    if req.window_ends_at is not None:
        msg.window_ends_at.CopyFrom(timestamp(req.window_ends_at))
    return msg
