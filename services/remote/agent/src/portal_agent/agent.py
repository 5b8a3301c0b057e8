"""`portal-agent run`: the one long-lived Connect stream (Hello, Challenge, Proof, Welcome, Heartbeat), the signed
commands that arrive on it, and reconnection with backoff. docs/remote.md, "Protocol"."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import socket
import sys
import time
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.remote.v1 import agent_pb2, agent_pb2_grpc
from portal_agent import __version__
from portal_agent.runs import MAX_CONCURRENT_RUNS, Run, base_environment, valid_env
from portal_agent.state import AgentState
from portal_agent.terminal import MAX_TERMINALS, Terminal
from portal_agent.terminal import SUPPORTED as TERMINALS_SUPPORTED
from portal_agent.verify import CommandVerifier, Refusal, proof_message

log = logging.getLogger("portal_agent")

EXIT_OK, EXIT_BAD_STATE, EXIT_REVOKED = 0, 2, 3
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_JITTER = 0.5, 30.0, 0.2
# A connection that lasted longer than this starts the backoff over from BACKOFF_FIRST.
STABLE_SECONDS = 30.0
HANDSHAKE_SECONDS = 15.0
# Reports a disconnected agent keeps for the next connection (the output of a run is not kept).
KEPT_KINDS = {"run_started", "run_finished", "terminal_closed"}
KEPT_MAX = 256
# gRPC keepalive pings: no more often than a default gRPC server accepts without data (5 min).
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.enable_retries", 0),
]


def os_family() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform == "win32":
        return "windows"
    return sys.platform


def channel_credentials(insecure: bool, ca_file: str) -> grpc.ChannelCredentials | None:
    if insecure:
        return None
    roots = Path(ca_file).read_bytes() if ca_file else None
    return grpc.ssl_channel_credentials(root_certificates=roots)


class Backoff:
    """Pauses between connection attempts: 0.5 s doubling up to 30 s, each ±20 % at random; reset() starts over."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._delay = BACKOFF_FIRST

    def reset(self) -> None:
        self._delay = BACKOFF_FIRST

    def next(self) -> float:
        pause = self._delay * self._rng.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
        self._delay = min(self._delay * 2, BACKOFF_MAX)
        return pause


class ProtocolError(Exception):
    """The broker did not follow the handshake (no Challenge, no Welcome, or not in time)."""


class Agent:
    def __init__(self, state: AgentState, key: Ed25519PrivateKey) -> None:
        self.state = state
        self._key = key
        self._verifier = CommandVerifier(state.command_key(), state.agent_id)
        self._credentials = channel_credentials(state.insecure, state.ca_file)
        self._queue: asyncio.Queue[agent_pb2.ConnectRequest | None] | None = None
        self._kept: collections.deque[agent_pb2.ConnectRequest] = collections.deque(maxlen=KEPT_MAX)
        self.runs: dict[str, Run] = {}
        self.terminals: dict[str, Terminal] = {}
        self._tasks: set[asyncio.Task] = set()
        self._welcomed_at: float | None = None  # monotonic time the current connection was welcomed

    # -- sending ------------------------------------------------------------------------------------------------

    def send(self, message: agent_pb2.ConnectRequest) -> None:
        if self._queue is not None:
            self._queue.put_nowait(message)
        elif message.WhichOneof("kind") in KEPT_KINDS:
            self._kept.append(message)

    def backlog(self) -> int:
        """Messages waiting for the stream (0 when disconnected: then nothing is queued but the kept reports)."""
        return self._queue.qsize() if self._queue is not None else 0

    # -- the reconnecting loop ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        """Connect, and reconnect with backoff, until `stop` is set (0), the agent is revoked (3) or the broker
        does not know it twice in a row (2)."""
        backoff, unauthenticated = Backoff(), 0
        try:
            while not stop.is_set():
                self._welcomed_at = None
                connection = asyncio.create_task(self._connect_once())
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if stop.is_set():
                    connection.cancel()
                    with contextlib.suppress(BaseException):
                        await connection
                    log.info("stopping")
                    return EXIT_OK
                try:
                    connection.result()
                    log.warning("disconnected: the broker ended the stream")
                except grpc.aio.AioRpcError as e:
                    code = e.code()
                    if code == grpc.StatusCode.PERMISSION_DENIED:
                        log.error(
                            "the broker refused this agent (PERMISSION_DENIED: %s): it was revoked; "
                            "enrol again with a new token to use this device",
                            e.details(),
                        )
                        return EXIT_REVOKED
                    if code == grpc.StatusCode.UNAUTHENTICATED:
                        unauthenticated += 1
                        if unauthenticated >= 2:
                            log.error(
                                "the broker does not know this agent or its key (UNAUTHENTICATED: %s): the state "
                                "directory does not match the server; enrol again with --force",
                                e.details(),
                            )
                            return EXIT_BAD_STATE
                    else:
                        unauthenticated = 0
                    log.warning("disconnected from %s: %s %s", self.state.server, code.name, e.details() or "")
                except ProtocolError as e:
                    unauthenticated = 0
                    log.warning("disconnected from %s: %s", self.state.server, e)
                except Exception as e:  # anything else: log it and keep reconnecting, never die for it
                    unauthenticated = 0
                    log.warning("disconnected from %s: unexpected %s", self.state.server, type(e).__name__)
                if self._welcomed_at is not None:  # the broker accepted it: whatever ended it, it knows the agent
                    unauthenticated = 0
                    if time.monotonic() - self._welcomed_at > STABLE_SECONDS:
                        backoff.reset()
                pause = backoff.next()
                log.info("reconnecting in %.1f s", pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
            return EXIT_OK
        finally:
            await self.shutdown()

    async def _connect_once(self) -> None:
        """One connection: the handshake, then commands until the stream ends. Returns if the broker ended the
        stream cleanly; raises AioRpcError or ProtocolError otherwise. Sets _welcomed_at once welcomed."""
        state = self.state
        if self._credentials is None:
            channel = grpc.aio.insecure_channel(state.server, options=CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.secure_channel(state.server, self._credentials, options=CHANNEL_OPTIONS)
        queue: asyncio.Queue[agent_pb2.ConnectRequest | None] = asyncio.Queue()
        heartbeat: asyncio.Task | None = None

        async def requests():
            while (message := await queue.get()) is not None:
                yield message

        try:
            call = agent_pb2_grpc.AgentServiceStub(channel).Connect(requests())
            queue.put_nowait(
                agent_pb2.ConnectRequest(
                    hello=agent_pb2.Hello(
                        agent_id=state.agent_id,
                        agent_version=__version__,
                        hostname=socket.gethostname(),
                        os=os_family(),
                    )
                )
            )
            challenge = await self._expect(call, "challenge")
            signature = self._key.sign(proof_message(state.agent_id, challenge.challenge.nonce))
            queue.put_nowait(agent_pb2.ConnectRequest(proof=agent_pb2.Proof(signature=signature)))
            welcome = (await self._expect(call, "welcome")).welcome
            self._welcomed_at = time.monotonic()
            interval = welcome.heartbeat_seconds if welcome.heartbeat_seconds > 0 else 10
            log.info("connected to %s as agent %s (heartbeat every %d s)", state.server, state.agent_id, interval)
            self._queue = queue
            while self._kept:
                queue.put_nowait(self._kept.popleft())
            heartbeat = asyncio.create_task(self._heartbeat(queue, interval))
            while True:
                response = await call.read()  # raises AioRpcError when the stream ends with an error status
                if response is grpc.aio.EOF:  # ended with OK
                    return
                if response.WhichOneof("kind") == "command":
                    self.handle(response.command)
                else:
                    log.warning("ignored an unexpected %s from the broker", response.WhichOneof("kind"))
        finally:
            self._queue = None
            if heartbeat is not None:
                heartbeat.cancel()
            # A terminal is interactive: without its stream nobody sees it. Runs go on and report later.
            for terminal in list(self.terminals.values()):
                terminal.close("failed")
            # Reports the stream did not take yet wait for the next connection with the kept ones.
            while not queue.empty():
                message = queue.get_nowait()
                if message is not None and message.WhichOneof("kind") in KEPT_KINDS:
                    self._kept.append(message)
            queue.put_nowait(None)
            await channel.close(grace=None)

    async def _expect(self, call, kind: str) -> agent_pb2.ConnectResponse:
        try:
            response = await asyncio.wait_for(call.read(), HANDSHAKE_SECONDS)
        except TimeoutError:
            raise ProtocolError(f"no {kind} from the broker within {HANDSHAKE_SECONDS:.0f} s") from None
        if response is grpc.aio.EOF:
            raise ProtocolError(f"the broker ended the stream before its {kind}")
        if response.WhichOneof("kind") != kind:
            raise ProtocolError(f"the broker sent {response.WhichOneof('kind')} where {kind} was due")
        return response

    @staticmethod
    async def _heartbeat(queue: asyncio.Queue, interval: int) -> None:
        while True:
            await asyncio.sleep(interval)
            queue.put_nowait(agent_pb2.ConnectRequest(heartbeat=agent_pb2.Heartbeat()))

    # -- commands -----------------------------------------------------------------------------------------------

    def _refuse(self, command_id: str, reason: str) -> None:
        log.warning("refused command %s: %s", command_id or "(unread)", reason)
        refused = agent_pb2.CommandRefused(command_id=command_id, reason=reason)
        self.send(agent_pb2.ConnectRequest(command_refused=refused))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def handle(self, signed: agent_pb2.SignedCommand) -> None:
        try:
            command = self._verifier.check(signed)
        except Refusal as r:
            self._refuse(r.command_id, r.reason)
            return
        cid, action = command.command_id, command.WhichOneof("action")
        if action == "run_script":
            self._start_run(cid, command.run_script)
        elif action == "cancel_run":
            run = self.runs.get(command.cancel_run.run_id)
            if run is not None:
                log.info("run %s cancelled", run.run_id)
                run.cancel()
        elif action == "open_terminal":
            self._open_terminal(cid, command.open_terminal)
        elif action == "terminal_input":
            terminal = self.terminals.get(command.terminal_input.session_id)
            if terminal is not None:
                terminal.write(command.terminal_input.data)
        elif action == "resize_terminal":
            terminal = self.terminals.get(command.resize_terminal.session_id)
            if terminal is not None:
                terminal.resize(command.resize_terminal.cols, command.resize_terminal.rows)
        elif action == "close_terminal":
            terminal = self.terminals.get(command.close_terminal.session_id)
            if terminal is not None:
                terminal.close("closed")
        else:
            self._refuse(cid, "unsupported")

    def _start_run(self, cid: str, script: agent_pb2.RunScript) -> None:
        if script.language not in ("shell", "python"):
            self._refuse(cid, "unsupported")
            return
        if not script.run_id or script.run_id in self.runs or not valid_env(dict(script.env)):
            self._refuse(cid, "malformed")
            return
        if len(self.runs) >= MAX_CONCURRENT_RUNS:
            self._refuse(cid, "busy")
            return
        run = Run(script, self.send)
        self.runs[run.run_id] = run

        async def go() -> None:
            try:
                await run.execute()
            finally:
                self.runs.pop(run.run_id, None)

        self._spawn(go())

    def _open_terminal(self, cid: str, command: agent_pb2.OpenTerminal) -> None:
        if not TERMINALS_SUPPORTED:
            self._refuse(cid, "unsupported")
            return
        if not command.session_id or command.session_id in self.terminals:
            self._refuse(cid, "malformed")
            return
        if len(self.terminals) >= MAX_TERMINALS:
            self._refuse(cid, "busy")
            return
        terminal = Terminal(command, self.send, base_environment(), self.backlog)
        self.terminals[terminal.session_id] = terminal

        async def go() -> None:
            try:
                await terminal.execute()
            finally:
                self.terminals.pop(terminal.session_id, None)

        self._spawn(go())

    async def shutdown(self) -> None:
        """Kill every running script and terminal and wait for them (a few seconds at most)."""
        for run in list(self.runs.values()):
            run.cancel(stopping=True)
        for terminal in list(self.terminals.values()):
            terminal.close("closed")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
