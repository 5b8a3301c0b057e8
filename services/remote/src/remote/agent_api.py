"""portal.remote.v1.AgentService: what device agents speak, on the second gRPC server (settings.agent_port).

No principal tokens here: Enrol spends a one-time token, Connect proves possession of the agent's key. Once an
agent is welcomed, this replica holds its stream: it subscribes `remote.agent.<agent_id>` (commands from any
replica, revoke and replace notices), keeps last_seen_at fresh from heartbeats, stores the agent's run reports
and republishes them live (`remote.run.<run_id>`), and relays terminal traffic (`remote.session.<session_id>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nats.aio.client import Client as NatsClient
from sqlalchemy import select, update

from portal.remote.v1 import agent_pb2, agent_pb2_grpc
from remote import metrics
from remote.agents import service as agents
from remote.agents.models import Agent
from remote.broker import routing
from remote.broker.signing import AUTH_PREFIX, CommandSigner
from remote.events import publish
from remote.script_runs import service as runs
from remote.script_runs.models import ScriptRun
from remote.sessions import service as sessions
from remote.sessions.models import RemoteSession
from servicekit.db import Database, utcnow
from servicekit.errors import ServiceError

log = logging.getLogger(__name__)

PROOF_TIMEOUT = 10.0
FLUSH_BYTES = 4096
FLUSH_SECONDS = 0.1
MAX_FOREIGN = 1000
AGENT_DISCONNECTED = "agent disconnected"


@dataclass
class _Conn:
    agent_id: str
    connection_id: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    # Why the stream must end: None while it runs; "revoked", "replaced" or "closed".
    ending: str | None = None
    known_runs: set[str] = field(default_factory=set)
    full_runs: set[str] = field(default_factory=set)
    known_sessions: set[str] = field(default_factory=set)
    # Ids the agent named that are not its own: refused again without a database read.
    foreign: set[str] = field(default_factory=set)
    # Output received and not yet stored, by run: small chunks are coalesced (FLUSH_BYTES or FLUSH_SECONDS).
    pending: dict[str, bytearray] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_END = object()


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        db: Database,
        nc: NatsClient,
        signer: CommandSigner,
        *,
        replica_id: str,
        heartbeat_seconds: int,
        max_output_bytes: int,
    ) -> None:
        self.db = db
        self.nc = nc
        self.signer = signer
        self.replica_id = replica_id
        self.heartbeat_seconds = heartbeat_seconds
        self.max_output_bytes = max_output_bytes
        self._cleanups: set[asyncio.Task] = set()

    async def Enrol(
        self, request: agent_pb2.EnrolRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.EnrolResponse:
        try:
            agents.check_enrol_request(request.public_key, request.hostname, request.os, request.agent_version)
            async with self.db.unit_of_work() as s:
                token = await agents.spend_token(s, request.token)
            async with self.db.unit_of_work() as s:
                agent = await agents.enrol(
                    s,
                    token=token,
                    public_key=request.public_key,
                    hostname=request.hostname,
                    os=request.os,
                    version=request.agent_version,
                )
        except ServiceError as err:
            await context.abort(err.code, err.detail)
        log.info("agent %s enrolled for asset %s", agent.id, agent.asset_id)
        return agent_pb2.EnrolResponse(
            agent_id=agent.id, asset_id=agent.asset_id, command_public_key=self.signer.public_key
        )

    async def Connect(
        self, request_iterator: AsyncIterator[agent_pb2.ConnectRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.ConnectResponse]:
        requests = aiter(request_iterator)
        first = await _next(requests, PROOF_TIMEOUT)
        if first is None or first.WhichOneof("kind") != "hello" or not first.hello.agent_id:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "the first message must be Hello with the agent id")
        hello = first.hello
        agent = await self._agent(hello.agent_id)
        if agent is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown agent")
        if agent.revoked_at is not None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "this agent was revoked")
        nonce = secrets.token_bytes(32)
        yield agent_pb2.ConnectResponse(challenge=agent_pb2.Challenge(nonce=nonce))
        proof = await _next(requests, PROOF_TIMEOUT)
        if proof is None or proof.WhichOneof("kind") != "proof":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "no proof within 10 s")
        try:
            Ed25519PublicKey.from_public_bytes(agent.public_key).verify(
                proof.proof.signature, AUTH_PREFIX + agent.id.encode() + b"\n" + nonce
            )
        except (InvalidSignature, ValueError):
            log.info("agent %s: bad proof refused", agent.id)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad proof")

        conn = _Conn(agent_id=agent.id, connection_id=str(uuid.uuid4()))
        # A stream this agent still had (on any replica) gives way to this one before we listen.
        with contextlib.suppress(Exception):
            await self.nc.request(
                routing.agent_subject(agent.id),
                b"",
                timeout=1.0,
                headers={routing.NOTICE: routing.NOTICE_REPLACE, routing.CONNECTION: conn.connection_id},
            )

        async def on_message(msg) -> None:  # noqa: ANN001
            await self._on_message(conn, msg)

        sub = await self.nc.subscribe(routing.agent_subject(agent.id), cb=on_message)
        await self.nc.flush(timeout=2)
        if not await self._mark_connected(conn, hello):
            await sub.unsubscribe()
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "this agent was revoked")
        metrics.AGENTS_ONLINE.inc()
        log.info("agent %s connected to replica %s", agent.id, self.replica_id)
        reader = asyncio.create_task(self._read(conn, requests))
        reader.add_done_callback(lambda _t: self._end(conn, "closed"))
        flusher = asyncio.create_task(self._flusher(conn))
        try:
            yield agent_pb2.ConnectResponse(welcome=agent_pb2.Welcome(heartbeat_seconds=self.heartbeat_seconds))
            while True:
                item = await conn.queue.get()
                if item is _END or conn.ending is not None:
                    break
                yield agent_pb2.ConnectResponse(command=item)
        finally:
            metrics.AGENTS_ONLINE.dec()
            reader.cancel()
            flusher.cancel()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            task = asyncio.create_task(self._disconnected(conn))
            self._cleanups.add(task)
            task.add_done_callback(self._cleanups.discard)
        if conn.ending == "revoked":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "this agent was revoked")

    # --- the holder's side of routing -------------------------------------------------------------------

    async def _on_message(self, conn: _Conn, msg) -> None:  # noqa: ANN001
        notice = (msg.headers or {}).get(routing.NOTICE)
        if notice == routing.NOTICE_REVOKE:
            self._end(conn, "revoked")
            return
        if notice == routing.NOTICE_REPLACE:
            if msg.headers.get(routing.CONNECTION) != conn.connection_id:
                self._end(conn, "replaced")
                if msg.reply:
                    await msg.respond(b"ok")
            return
        if conn.ending is not None or conn.queue.full():
            return  # no answer: the sender reads the device as offline
        try:
            command = agent_pb2.SignedCommand.FromString(msg.data)
        except Exception:
            return
        conn.queue.put_nowait(command)
        if msg.reply:
            await msg.respond(b"ok")

    def _end(self, conn: _Conn, why: str) -> None:
        if conn.ending is None:
            conn.ending = why
        with contextlib.suppress(asyncio.QueueFull):
            conn.queue.put_nowait(_END)

    # --- the agent's reports ---------------------------------------------------------------------------

    async def _read(self, conn: _Conn, requests: AsyncIterator[agent_pb2.ConnectRequest]) -> None:
        try:
            async for msg in requests:
                if conn.ending is not None:
                    return
                kind = msg.WhichOneof("kind")
                try:
                    await self._report(conn, kind, msg)
                except Exception:
                    log.exception("agent %s: a %s report could not be handled", conn.agent_id, kind)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("agent %s: reading the stream failed", conn.agent_id)

    async def _report(self, conn: _Conn, kind: str | None, msg: agent_pb2.ConnectRequest) -> None:
        if kind == "heartbeat":
            async with self.db.unit_of_work() as s:
                agent = await s.get(Agent, conn.agent_id)
                if agent is None or agent.revoked_at is not None:
                    self._end(conn, "revoked")
                    return
                if agent.connection_id == conn.connection_id:
                    agent.last_seen_at = utcnow()
        elif kind == "command_refused":
            reason = msg.command_refused.reason if msg.command_refused.reason in metrics.REFUSAL_REASONS else "other"
            metrics.COMMANDS_REFUSED.labels(reason).inc()
            log.warning("agent %s refused command %s: %s", conn.agent_id, msg.command_refused.command_id, reason)
        elif kind == "run_started":
            if await self._owns_run(conn, msg.run_started.run_id):
                async with self.db.unit_of_work() as s:
                    await runs.mark_started(s, run_id=msg.run_started.run_id, agent_id=conn.agent_id)
        elif kind == "run_output":
            await self._run_output(conn, msg.run_output)
        elif kind == "run_finished":
            await self._run_finished(conn, msg.run_finished)
        elif kind in ("terminal_opened", "terminal_output", "terminal_closed"):
            session_id = getattr(msg, kind).session_id
            if await self._owns_session(conn, session_id):
                await self.nc.publish(routing.session_subject(session_id), msg.SerializeToString())

    async def _owns_run(self, conn: _Conn, run_id: str) -> bool:
        return await self._owns(conn, ScriptRun, run_id, conn.known_runs)

    async def _owns_session(self, conn: _Conn, session_id: str) -> bool:
        return await self._owns(conn, RemoteSession, session_id, conn.known_sessions)

    async def _owns(self, conn: _Conn, model: type[ScriptRun | RemoteSession], ident: str, known: set[str]) -> bool:
        """Whether the run or session `ident` was sent to this agent: an agent reports only its own. Answers are
        remembered on the connection (yes in `known`, no in `foreign`), so a chatty agent costs one read per id."""
        if ident in known:
            return True
        if ident in conn.foreign or len(ident) > 36:
            return False
        async with self.db.read() as c:
            row = (await c.execute(select(model.agent_id).where(model.id == ident))).first()
        if row is None or row.agent_id != conn.agent_id:
            _remember_foreign(conn, ident)
            return False
        known.add(ident)
        return True

    async def _run_output(self, conn: _Conn, out: agent_pb2.RunOutput) -> None:
        # A run past its bound costs nothing more: its chunks are dropped here, before any database work; small
        # chunks are stored together (at most one write per FLUSH_BYTES or FLUSH_SECONDS per run).
        if not out.data or out.run_id in conn.full_runs or not await self._owns_run(conn, out.run_id):
            return
        buffer = conn.pending.setdefault(out.run_id, bytearray())
        buffer += out.data
        if len(buffer) >= FLUSH_BYTES:
            await self._flush(conn, out.run_id)

    async def _flush(self, conn: _Conn, run_id: str) -> None:
        async with conn.lock:
            data = conn.pending.pop(run_id, None)
            if not data:
                return
            data = bytes(data)
            async with self.db.unit_of_work() as s:
                kept = await runs.append_output(s, run_id=run_id, data=data, max_bytes=self.max_output_bytes)
            if kept is None or len(kept[1]) < len(data):
                conn.full_runs.add(run_id)
            if kept is not None:
                position, stored = kept
                live = agent_pb2.ConnectRequest(run_output=agent_pb2.RunOutput(run_id=run_id, data=stored))
                await self.nc.publish(
                    routing.run_subject(run_id), live.SerializeToString(), headers={routing.OFFSET: str(position)}
                )

    async def _flush_all(self, conn: _Conn) -> None:
        for run_id in list(conn.pending):
            await self._flush(conn, run_id)

    async def _flusher(self, conn: _Conn) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self._flush_all(conn)
            except Exception:
                log.exception("agent %s: storing run output failed", conn.agent_id)

    async def _run_finished(self, conn: _Conn, fin: agent_pb2.RunFinished) -> None:
        if not await self._owns_run(conn, fin.run_id):
            return
        await self._flush(conn, fin.run_id)
        async with self.db.unit_of_work() as s:
            run = await s.get(ScriptRun, fin.run_id)
            if run is not None:
                status = runs.outcome(exit_code=fin.exit_code, timed_out=fin.timed_out, error=fin.error)
                await runs.finish(
                    s, run, status=status, exit_code=fin.exit_code, error=fin.error, truncated=fin.truncated
                )
        conn.known_runs.discard(fin.run_id)
        conn.full_runs.discard(fin.run_id)
        await self.nc.publish(
            routing.run_subject(fin.run_id), agent_pb2.ConnectRequest(run_finished=fin).SerializeToString()
        )

    # --- connection state ------------------------------------------------------------------------------

    async def _agent(self, agent_id: str) -> Agent | None:
        async with self.db.unit_of_work() as s:
            return await s.get(Agent, agent_id)

    async def _mark_connected(self, conn: _Conn, hello: agent_pb2.Hello) -> bool:
        values: dict = {
            "connected_replica": self.replica_id,
            "connection_id": conn.connection_id,
            "last_seen_at": utcnow(),
        }
        for column, value, limit in (
            ("hostname", hello.hostname, 255),
            ("os", hello.os, 32),
            ("version", hello.agent_version, 64),
        ):
            if value:
                values[column] = value[:limit]
        async with self.db.unit_of_work() as s:
            # One UPDATE of every connection column (not the ORM's changed-only flush): a replaced stream's cleanup
            # running meanwhile either matched before (and is overwritten) or matches nothing after.
            marked = await s.execute(
                update(Agent)
                .where(Agent.id == conn.agent_id, Agent.revoked_at.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if marked.rowcount != 1:  # type: ignore[attr-defined]
                return False
            agent = await s.get(Agent, conn.agent_id)
            assert agent is not None
            await publish.agent_status_changed(s, agent, "online")
        return True

    async def _disconnected(self, conn: _Conn) -> None:
        """The stream ended: unless a newer connection took over, the agent is offline, its unfinished runs fail
        and its open sessions end."""
        try:
            await self._flush_all(conn)
        except Exception:
            log.exception("agent %s: storing the last run output failed", conn.agent_id)
        if conn.ending == "replaced":
            return  # the newer stream holds the agent now, with its runs and sessions
        try:
            async with self.db.unit_of_work() as s:
                cleared = await s.execute(
                    update(Agent)
                    .where(Agent.id == conn.agent_id, Agent.connection_id == conn.connection_id)
                    .values(connected_replica=None, connection_id=None)
                    .execution_options(synchronize_session=False)
                )
                if cleared.rowcount != 1:  # type: ignore[attr-defined]
                    return
                agent = await s.get(Agent, conn.agent_id)
                revoked = agent is not None and agent.revoked_at is not None
                failed = await runs.fail_unfinished_of_agent(s, agent_id=conn.agent_id, error=AGENT_DISCONNECTED)
                session_ids = await sessions.open_session_ids_of_agent(s, conn.agent_id)
                if agent is not None and not revoked:
                    await publish.agent_status_changed(s, agent, "offline")
            log.info("agent %s disconnected from replica %s", conn.agent_id, self.replica_id)
            reason = "revoked" if revoked else "agent_lost"
            for run_id in failed:
                note = agent_pb2.RunFinished(run_id=run_id, error=AGENT_DISCONNECTED)
                await self.nc.publish(
                    routing.run_subject(run_id), agent_pb2.ConnectRequest(run_finished=note).SerializeToString()
                )
            for session_id in session_ids:
                note = agent_pb2.TerminalClosed(session_id=session_id, reason=reason)
                await self.nc.publish(
                    routing.session_subject(session_id),
                    agent_pb2.ConnectRequest(terminal_closed=note).SerializeToString(),
                )
            # Sessions nobody relays (their relay's replica is gone) are ended here too.
            async with self.db.unit_of_work() as s:
                for session_id in session_ids:
                    await sessions.end(s, session_id, reason, only_unattached=True)
        except Exception:
            log.exception("agent %s: cleaning up after its stream failed", conn.agent_id)


def _remember_foreign(conn: _Conn, ident: str) -> None:
    if len(conn.foreign) >= MAX_FOREIGN:
        conn.foreign.clear()
    conn.foreign.add(ident)


async def _next(requests: AsyncIterator, seconds: float):  # noqa: ANN202
    try:
        return await asyncio.wait_for(anext(requests), seconds)
    except (StopAsyncIteration, TimeoutError):
        return None
