"""portal-agent as a real process (the venv's console script) against a small broker written here with the
generated AgentService stubs on a real gRPC socket: enrolment, the proof, signed commands and what the agent
refuses, scripts (output, exit code, variables, timeout, output limit), terminals, revocation, reconnection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import stat
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID
from google.protobuf.timestamp_pb2 import Timestamp

from portal.remote.v1 import agent_pb2, agent_pb2_grpc

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the tests use POSIX shells and ptys")

AGENT = Path(sys.executable).with_name("portal-agent")
RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(*RAW)


class Broker(agent_pb2_grpc.AgentServiceServicer):
    """Just enough of the remote service's broker: tokens, enrolled keys, the handshake, a command outbox and a log
    of what each agent sent."""

    def __init__(self) -> None:
        self.command_key = Ed25519PrivateKey.generate()
        self.tokens: dict[str, str] = {}  # token -> asset id
        self.keys: dict[str, bytes] = {}  # agent id -> raw public key
        self.enrolments: list[agent_pb2.EnrolRequest] = []
        self.revoked: set[str] = set()
        self.proofs: list[str] = []  # agent ids whose proof verified
        self.refused_proofs: list[str] = []
        self.outboxes: dict[str, asyncio.Queue] = {}
        self.received: dict[str, list[agent_pb2.ConnectRequest]] = {}
        self.changed = asyncio.Event()

    def token(self) -> str:
        token = uuid.uuid4().hex
        self.tokens[token] = f"asset-{token[:6]}"
        return token

    async def Enrol(self, request, context):
        asset_id = self.tokens.pop(request.token, None)
        if asset_id is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown or spent enrolment token")
        agent_id = f"agent-{uuid.uuid4().hex[:8]}"
        self.keys[agent_id] = request.public_key
        self.enrolments.append(request)
        return agent_pb2.EnrolResponse(
            agent_id=agent_id, asset_id=asset_id, command_public_key=raw_public(self.command_key)
        )

    async def Connect(self, request_iterator, context):
        hello = await context.read()
        nonce = os.urandom(32)
        await context.write(agent_pb2.ConnectResponse(challenge=agent_pb2.Challenge(nonce=nonce)))
        proof = await context.read()
        agent_id = hello.hello.agent_id
        if agent_id not in self.keys:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown agent")
        message = b"portal-agent-auth-v1\n" + agent_id.encode() + b"\n" + nonce
        try:
            Ed25519PublicKey.from_public_bytes(self.keys[agent_id]).verify(proof.proof.signature, message)
        except InvalidSignature:
            self.refused_proofs.append(agent_id)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad proof")
        if agent_id in self.revoked:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "agent revoked")
        self.proofs.append(agent_id)
        await context.write(agent_pb2.ConnectResponse(welcome=agent_pb2.Welcome(heartbeat_seconds=1)))
        outbox: asyncio.Queue = asyncio.Queue()
        self.outboxes[agent_id] = outbox
        log = self.received.setdefault(agent_id, [])
        self._changed()

        async def read() -> None:
            while (message := await context.read()) is not grpc.aio.EOF:
                log.append(message)
                self._changed()

        reader = asyncio.create_task(read())
        try:
            while True:
                sending = asyncio.create_task(outbox.get())
                done, _ = await asyncio.wait({reader, sending}, return_when=asyncio.FIRST_COMPLETED)
                if sending not in done:
                    sending.cancel()
                    return
                if sending.result() is None:  # end the stream cleanly (status OK), as a draining replica does
                    return
                await context.write(agent_pb2.ConnectResponse(command=sending.result()))
        finally:
            reader.cancel()
            if self.outboxes.get(agent_id) is outbox:
                del self.outboxes[agent_id]
            self._changed()

    def _changed(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(self, check: Callable[[], object], within: float = 10.0):
        """Wait until `check()` returns something truthy (re-checked whenever an agent sends anything)."""
        deadline = time.monotonic() + within
        while not (result := check()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for the agent")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.2))
        return result

    def sent(self, agent_id: str, kind: str, since: int = 0) -> list:
        return [getattr(m, kind) for m in self.received.get(agent_id, [])[since:] if m.WhichOneof("kind") == kind]

    def mark(self, agent_id: str) -> int:
        return len(self.received.get(agent_id, []))

    def sign(self, command: agent_pb2.Command, key: Ed25519PrivateKey | None = None) -> agent_pb2.SignedCommand:
        body = command.SerializeToString()
        signature = (key or self.command_key).sign(b"portal-command-v1\n" + body)
        return agent_pb2.SignedCommand(body=body, signature=signature)

    def send(self, agent_id: str, signed: agent_pb2.SignedCommand) -> None:
        self.outboxes[agent_id].put_nowait(signed)


def stamp(seconds_from_now: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int((time.time() + seconds_from_now) * 1e9))
    return ts


def command(agent_id: str, expires_in: float = 60, issued_in: float = 0, **action) -> agent_pb2.Command:
    return agent_pb2.Command(
        command_id=uuid.uuid4().hex,
        agent_id=agent_id,
        issued_at=stamp(issued_in),
        expires_at=stamp(expires_in),
        **action,
    )


def script(body: str, language: str = "shell", timeout: int = 20, max_output: int = 65536, **env: str):
    return agent_pb2.RunScript(
        run_id=uuid.uuid4().hex,
        language=language,
        body=body,
        env=env,
        timeout_seconds=timeout,
        max_output_bytes=max_output,
    )


@dataclass
class Agent:
    agent_id: str
    state_dir: Path
    log_file: Path
    proc: asyncio.subprocess.Process | None = None
    runs: dict = field(default_factory=dict)

    def log(self) -> str:
        return self.log_file.read_text()


class Env:
    """The broker's server (restartable on its port) and helpers to run portal-agent."""

    def __init__(self, broker: Broker, tmp: Path) -> None:
        self.broker = broker
        self.tmp = tmp
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.home = tmp / "home"
        self.home.mkdir()
        self.processes: list[asyncio.subprocess.Process] = []  # every `portal-agent run`, stopped at the end

    async def start(self) -> None:
        self.server = grpc.aio.server()
        agent_pb2_grpc.add_AgentServiceServicer_to_server(self.broker, self.server)
        self.port = self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop(grace=None)

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "SHELL": "/bin/sh",
            "AGENT_ONLY_SECRET": "s3cr3t-of-the-agent",
            "PORTAL_AGENT_STATE_DIR": str(self.tmp / "default-state"),
        }

    async def cli(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(AGENT), *args, env=self.env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        return proc.returncode, out.decode(), err.decode()

    async def enrol(self, name: str) -> Agent:
        state_dir = self.tmp / name
        code, out, err = await self.cli(
            "enrol",
            "--server",
            f"127.0.0.1:{self.port}",
            "--token",
            self.broker.token(),
            "--state-dir",
            str(state_dir),
            "--insecure",
        )
        assert code == 0, err
        agent_id = json.loads((state_dir / "agent.json").read_text())["agent_id"]
        return Agent(agent_id, state_dir, self.tmp / f"{name}.log")

    async def run(self, agent: Agent, connected: bool = True) -> Agent:
        seen = self.broker.proofs.count(agent.agent_id)
        with agent.log_file.open("ab") as log:
            agent.proc = await asyncio.create_subprocess_exec(
                str(AGENT),
                "run",
                "--state-dir",
                str(agent.state_dir),
                env=self.env(),
                stderr=log,
                stdout=asyncio.subprocess.DEVNULL,
            )
        self.processes.append(agent.proc)
        if connected:
            await self.broker.until(lambda: agent.agent_id in self.broker.outboxes, within=15)
            assert self.broker.proofs.count(agent.agent_id) == seen + 1
        return agent

    async def finish(self, agent: Agent) -> int:
        return await asyncio.wait_for(agent.proc.wait(), 10)


@pytest.fixture(scope="module")
async def env(tmp_path_factory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("agent")
    e = Env(Broker(), tmp)
    await e.start()
    yield e
    # A test that failed half-way leaves no agent (nor the scripts it runs) behind.
    for proc in e.processes:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    await e.stop()


@pytest.fixture(scope="module")
async def agent(env: Env) -> AsyncIterator[Agent]:
    """One enrolled agent, running for the whole module."""
    a = await env.run(await env.enrol("main"))
    yield a
    if a.proc.returncode is None:
        a.proc.send_signal(signal.SIGTERM)
        assert await env.finish(a) == 0


async def run_script(env: Env, agent: Agent, run: agent_pb2.RunScript, **kw) -> tuple[bytes, agent_pb2.RunFinished]:
    """Send a signed RunScript and wait for its end: (the output as the agent sent it, RunFinished)."""
    broker = env.broker
    env.broker.send(agent.agent_id, broker.sign(command(agent.agent_id, run_script=run, **kw)))
    return await collect(env, agent, run.run_id)


async def collect(env: Env, agent: Agent, run_id: str, within: float = 15) -> tuple[bytes, agent_pb2.RunFinished]:
    broker = env.broker
    [finished] = await broker.until(
        lambda: [f for f in broker.sent(agent.agent_id, "run_finished") if f.run_id == run_id], within
    )
    output = b"".join(o.data for o in broker.sent(agent.agent_id, "run_output") if o.run_id == run_id)
    assert [s.run_id for s in broker.sent(agent.agent_id, "run_started") if s.run_id == run_id] == [run_id]
    return output, finished


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- enrolment ---------------------------------------------------------------------------------------------------


async def test_enrol_writes_the_state_with_a_private_key_and_the_public_key_the_broker_received(env: Env, agent):
    saved = json.loads((agent.state_dir / "agent.json").read_text())
    assert saved["agent_id"] == agent.agent_id and saved["asset_id"].startswith("asset-")
    assert saved["server"] == f"127.0.0.1:{env.port}" and saved["insecure"] is True and saved["ca_file"] == ""
    assert base64.b64decode(saved["command_public_key"]) == raw_public(env.broker.command_key)
    assert stat.S_IMODE(agent.state_dir.stat().st_mode) == 0o700
    key_file = agent.state_dir / "agent.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert raw_public(key) == env.broker.keys[agent.agent_id]
    request = next(r for r in env.broker.enrolments if r.public_key == env.broker.keys[agent.agent_id])
    assert request.os == "linux" and request.hostname and request.agent_version
    # The proof the agent gave on connecting verified with that key; no other proof was refused.
    assert agent.agent_id in env.broker.proofs and agent.agent_id not in env.broker.refused_proofs

    code, out, _ = await env.cli("status", "--state-dir", str(agent.state_dir))
    assert code == 0 and agent.agent_id in out and saved["asset_id"] in out and saved["server"] in out
    assert "PRIVATE" not in out and key_file.read_text().splitlines()[1] not in out


async def test_enrol_refusals_have_clear_messages_and_exit_codes(env: Env, agent, tmp_path: Path):
    server = f"127.0.0.1:{env.port}"
    code, _, err = await env.cli(
        "enrol", "--server", server, "--token", "nope", "--state-dir", str(tmp_path / "a"), "--insecure"
    )
    assert code == 2 and "refused the token" in err
    assert not (tmp_path / "a" / "agent.key").exists()

    code, _, err = await env.cli(
        "enrol", "--server", server, "--token", env.broker.token(), "--state-dir", str(agent.state_dir), "--insecure"
    )
    assert code == 2 and "already enrolled" in err and "--force" in err

    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    code, _, err = await env.cli(
        "enrol",
        "--server",
        f"127.0.0.1:{closed_port}",
        "--token",
        "t",
        "--state-dir",
        str(tmp_path / "b"),
        "--insecure",
    )
    assert code == 1 and "cannot reach" in err

    code, _, err = await env.cli("run", "--state-dir", str(tmp_path / "never"))
    assert code == 2 and "not enrolled" in err


# -- what the agent refuses --------------------------------------------------------------------------------------


async def test_a_command_with_a_bad_signature_is_refused_and_nothing_runs(env: Env, agent, tmp_path: Path):
    broker, marker = env.broker, tmp_path / "ran"
    since = broker.mark(agent.agent_id)
    forged = broker.sign(command(agent.agent_id, run_script=script(f"touch {marker}")), Ed25519PrivateKey.generate())
    broker.send(agent.agent_id, forged)
    # A genuine signature over other bytes: the body was changed after signing.
    genuine = broker.sign(command(agent.agent_id, run_script=script(f"touch {marker}")))
    tampered = agent_pb2.SignedCommand(body=genuine.body.replace(b"touch", b"touck"), signature=genuine.signature)
    broker.send(agent.agent_id, tampered)
    refused = await broker.until(
        lambda: (
            len(broker.sent(agent.agent_id, "command_refused", since)) >= 2
            and broker.sent(agent.agent_id, "command_refused", since)
        )
    )
    assert [(r.command_id, r.reason) for r in refused] == [("", "bad_signature")] * 2
    # The agent still runs what is signed (so the forged one had its chance), and the marker was never made.
    output, finished = await run_script(env, agent, script("echo still here"))
    assert output == b"still here\n" and finished.exit_code == 0
    assert not marker.exists()


@pytest.mark.parametrize(
    ("case", "reason"),
    [("wrong_agent", "wrong_agent"), ("expired", "expired"), ("future", "expired"), ("no_action", "malformed")],
)
async def test_commands_for_another_agent_expired_or_malformed_are_refused(env, agent, tmp_path, case, reason):
    broker, marker = env.broker, tmp_path / "ran"
    run = script(f"touch {marker}")
    cmd = {
        "wrong_agent": lambda: command("agent-someone-else", run_script=run),
        "expired": lambda: command(agent.agent_id, expires_in=-1, issued_in=-61, run_script=run),
        "future": lambda: command(agent.agent_id, expires_in=400, issued_in=300, run_script=run),
        "no_action": lambda: command(agent.agent_id),
    }[case]()
    broker.send(agent.agent_id, broker.sign(cmd))
    [refused] = await broker.until(
        lambda: [r for r in broker.sent(agent.agent_id, "command_refused") if r.command_id == cmd.command_id]
    )
    assert refused.reason == reason
    await asyncio.sleep(0.3)
    assert not marker.exists()
    assert not [s for s in broker.sent(agent.agent_id, "run_started") if s.run_id == run.run_id]


async def test_a_replayed_command_is_refused_and_clock_skew_on_issued_at_is_allowed(env: Env, agent, tmp_path):
    broker, counter = env.broker, tmp_path / "count"
    run = script(f"echo x >> {counter}")
    signed = broker.sign(command(agent.agent_id, issued_in=20, run_script=run))  # 20 s ahead: within the skew
    broker.send(agent.agent_id, signed)
    await collect(env, agent, run.run_id)
    cid = agent_pb2.Command.FromString(signed.body).command_id
    broker.send(agent.agent_id, signed)
    [refused] = await broker.until(
        lambda: [r for r in broker.sent(agent.agent_id, "command_refused") if r.command_id == cid]
    )
    assert refused.reason == "replayed"
    assert counter.read_text() == "x\n"


# -- scripts -----------------------------------------------------------------------------------------------------


async def test_a_shell_script_output_and_exit_code_arrive(env: Env, agent):
    output, finished = await run_script(env, agent, script("echo out; echo err >&2; exit 7"))
    assert output == b"out\nerr\n"
    assert (finished.exit_code, finished.timed_out, finished.truncated, finished.error) == (7, False, False, "")

    output, finished = await run_script(env, agent, script("import sys\nprint(6 * 7)\nsys.exit(3)", "python"))
    assert (output, finished.exit_code) == (b"42\n", 3)


async def test_variables_are_environment_values_never_interpolated(env: Env, agent, tmp_path: Path):
    marker = tmp_path / "injected"
    value = f'$(touch {marker}); `touch {marker}` it\'s "quoted"'
    body = 'printf "%s|" "$GREETING" "$NAME" "${AGENT_ONLY_SECRET:-unset}"; echo "$HOME" "$PWD"'
    output, finished = await run_script(env, agent, script(body, GREETING=value, NAME="Ada"))
    greeting, name, inherited, rest = output.decode().split("|")
    assert (greeting, name, finished.exit_code) == (value, "Ada", 0)
    # The agent's own environment does not reach a script: only PATH, HOME and LANG, plus the variables.
    assert inherited == "unset" and rest.split()[0] == str(env.home)
    assert not marker.exists()
    assert value not in agent.log() and "printf" not in agent.log()


async def test_a_timeout_kills_the_whole_process_group(env: Env, agent):
    started = time.monotonic()
    output, finished = await run_script(env, agent, script("sleep 100 &\necho $!\nsleep 100", timeout=1))
    assert finished.timed_out and finished.exit_code == 128 + signal.SIGTERM and "timed out" in finished.error
    assert time.monotonic() - started < 6
    child = int(output.split()[0])
    deadline = time.monotonic() + 3
    while alive(child) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling another process
        await asyncio.sleep(0.05)
    assert not alive(child), "the script's child sleep outlived the timeout"


async def test_cancel_run_kills_it_and_several_runs_go_at_once_up_to_four(env: Env, agent):
    broker = env.broker
    runs = [script("sleep 100") for _ in range(5)]
    for run in runs:
        broker.send(agent.agent_id, broker.sign(command(agent.agent_id, run_script=run)))
    await broker.until(
        lambda: (
            len([s for s in broker.sent(agent.agent_id, "run_started") if s.run_id in {r.run_id for r in runs}]) == 4
        )
    )
    busy = await broker.until(lambda: [r for r in broker.sent(agent.agent_id, "command_refused") if r.reason == "busy"])
    assert len(busy) == 1
    for run in runs[:4]:
        broker.send(
            agent.agent_id, broker.sign(command(agent.agent_id, cancel_run=agent_pb2.CancelRun(run_id=run.run_id)))
        )
    for run in runs[:4]:
        _, finished = await collect(env, agent, run.run_id, within=5)
        assert finished.error == "cancelled" and not finished.timed_out


async def test_an_output_flood_is_cut_at_max_output_bytes(env: Env, agent):
    output, finished = await run_script(env, agent, script("yes | head -c 10000000; echo done >&2", max_output=65536))
    assert len(output) == 65536 and output.startswith(b"y\ny\n")
    assert finished.truncated and finished.exit_code == 0 and not finished.timed_out
    chunks = [o.data for o in env.broker.sent(agent.agent_id, "run_output") if o.run_id == finished.run_id]
    assert max(len(c) for c in chunks) <= 16 * 1024


# -- terminals ---------------------------------------------------------------------------------------------------


async def test_terminals_relay_input_and_output_and_close_at_the_limit_on_close_and_on_exit(env: Env, agent):
    broker, a = env.broker, agent.agent_id

    def open_terminal(seconds: float) -> str:
        sid = uuid.uuid4().hex
        opening = agent_pb2.OpenTerminal(session_id=sid, cols=100, rows=30, ends_at=stamp(seconds))
        broker.send(a, broker.sign(command(a, open_terminal=opening)))
        return sid

    def typed(sid: str, text: bytes) -> None:
        broker.send(a, broker.sign(command(a, terminal_input=agent_pb2.TerminalInput(session_id=sid, data=text))))

    def output(sid: str) -> bytes:
        return b"".join(o.data for o in broker.sent(a, "terminal_output") if o.session_id == sid)

    def closed(sid: str) -> list:
        return [c.reason for c in broker.sent(a, "terminal_closed") if c.session_id == sid]

    limit_at = time.time() + 4
    limited, closing, exiting = open_terminal(4), open_terminal(60), open_terminal(60)
    opened = {limited, closing, exiting}
    await broker.until(lambda: opened <= {o.session_id for o in broker.sent(a, "terminal_opened")})
    typed(limited, b"stty size; echo $((6*7))\n")
    await broker.until(lambda: b"42" in output(limited))
    assert b"30 100" in output(limited)  # the size set with TIOCSWINSZ
    resize = agent_pb2.ResizeTerminal(session_id=closing, cols=90, rows=20)
    broker.send(a, broker.sign(command(a, resize_terminal=resize)))
    typed(closing, b"stty size\n")
    await broker.until(lambda: b"20 90" in output(closing))
    broker.send(a, broker.sign(command(a, close_terminal=agent_pb2.CloseTerminal(session_id=closing))))
    typed(exiting, b"exit\n")
    assert await broker.until(lambda: closed(closing)) == ["closed"]
    assert await broker.until(lambda: closed(exiting)) == ["exited"]
    assert await broker.until(lambda: closed(limited), within=8) == ["limit"]
    # Closed at ends_at on the agent's own clock: not before it, and not long after.
    assert limit_at - 0.2 < time.time() < limit_at + 3


# -- the connection ----------------------------------------------------------------------------------------------


async def test_a_stream_the_broker_ends_cleanly_is_reconnected(env: Env, agent):
    # Before the tests below that take the broker away: this agent's backoff still starts at 0.5 s.
    proofs = env.broker.proofs.count(agent.agent_id)
    env.broker.outboxes[agent.agent_id].put_nowait(None)
    await env.broker.until(lambda: env.broker.proofs.count(agent.agent_id) > proofs, within=5)
    await env.broker.until(lambda: agent.agent_id in env.broker.outboxes)
    assert "the broker ended the stream" in agent.log() and "unexpected" not in agent.log()
    output, _ = await run_script(env, agent, script("echo again"))
    assert output == b"again\n"


async def test_a_revoked_agent_exits_3_and_an_unknown_one_exits_2(env: Env):
    revoked = await env.enrol("revoked")
    env.broker.revoked.add(revoked.agent_id)
    unknown = await env.enrol("unknown")
    del env.broker.keys[unknown.agent_id]
    await env.run(revoked, connected=False)
    await env.run(unknown, connected=False)
    assert await env.finish(revoked) == 3
    assert "revoked" in revoked.log()
    assert await env.finish(unknown) == 2
    assert "enrol again" in unknown.log()


async def test_the_agent_reconnects_when_the_broker_comes_back_and_stops_cleanly_on_sigterm(env: Env, agent):
    broker = env.broker
    other = await env.run(await env.enrol("restart"))
    # A run in progress on the agent that will be stopped: its process must not outlive the agent.
    run = script("echo $$; sleep 100", timeout=60, MARKER_VALUE="do-not-log-me")
    broker.send(other.agent_id, broker.sign(command(other.agent_id, run_script=run)))
    await broker.until(lambda: [o for o in broker.sent(other.agent_id, "run_output") if o.run_id == run.run_id])
    pid = int(b"".join(o.data for o in broker.sent(other.agent_id, "run_output") if o.run_id == run.run_id))

    proofs = broker.proofs.count(other.agent_id), broker.proofs.count(agent.agent_id)
    # A run that ends while the broker is away: its end is reported on the next connection.
    short = script("echo before; sleep 0.3; echo during; exit 5")
    broker.send(agent.agent_id, broker.sign(command(agent.agent_id, run_script=short)))
    await broker.until(lambda: [o for o in broker.sent(agent.agent_id, "run_output") if o.run_id == short.run_id])
    await env.stop()
    await asyncio.sleep(1)
    await env.start()
    up = time.monotonic()
    # `other` never lost a connection before: its pauses are 0.5, 1, 2, 4 s (±20 %); the broker is away for less
    # than the first three together, so the fourth (at most 4.8 s) brings it back at the latest.
    await broker.until(lambda: broker.proofs.count(other.agent_id) > proofs[0], within=10)
    assert time.monotonic() - up < 5.5
    # The module's agent has reconnected before (its backoff went on doubling): it gets more time.
    await broker.until(lambda: broker.proofs.count(agent.agent_id) > proofs[1], within=15)
    output, finished = await collect(env, agent, short.run_id)
    assert finished.exit_code == 5 and output == b"before\n"  # what it wrote while disconnected is lost
    await broker.until(lambda: other.agent_id in broker.outboxes and agent.agent_id in broker.outboxes)
    # The reconnected stream carries commands, and the heartbeats resume.
    output, _ = await run_script(env, agent, script("echo back"))
    assert output == b"back\n"
    since = broker.mark(other.agent_id)
    await broker.until(lambda: broker.sent(other.agent_id, "heartbeat", since), within=4)

    assert alive(pid)
    other.proc.send_signal(signal.SIGTERM)
    assert await env.finish(other) == 0
    assert not alive(pid)
    log = other.log()
    assert "connected to" in log and "disconnected" in log
    assert "do-not-log-me" not in log and "sleep 100" not in log and "PRIVATE" not in log


def test_the_console_script_is_installed():
    assert AGENT.exists() and shutil.which(str(AGENT))


def certificates(tmp: Path) -> tuple[Path, bytes, bytes]:
    """A CA (its certificate written to ca.pem) and a server certificate it signed for localhost and 127.0.0.1."""
    now = datetime.now(UTC)

    def build(subject: str, issuer: str, public, signer, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("test CA", "test CA", ca_key.public_key(), ca_key, ca=True)
    server = build("localhost", "test CA", server_key.public_key(), ca_key, ca=False)
    ca_file = tmp / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca_file, key_pem, server.public_bytes(serialization.Encoding.PEM)


async def test_tls_with_a_ca_file_and_an_unknown_ca_refused(env: Env, tmp_path: Path):
    ca_file, key_pem, cert_pem = certificates(tmp_path)
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(env.broker, server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    await server.start()
    try:
        address = f"localhost:{port}"
        # Without the CA (the system's CAs only) the server's certificate is not trusted: nothing is enrolled.
        code, _, err = await env.cli(
            "enrol", "--server", address, "--token", env.broker.token(), "--state-dir", str(tmp_path / "x")
        )
        assert code == 1 and "cannot reach" in err and not (tmp_path / "x" / "agent.json").exists()

        state_dir = tmp_path / "tls"
        code, _, err = await env.cli(
            "enrol",
            "--server",
            address,
            "--token",
            env.broker.token(),
            "--state-dir",
            str(state_dir),
            "--ca-file",
            str(ca_file),
        )
        assert code == 0, err
        saved = json.loads((state_dir / "agent.json").read_text())
        assert saved["insecure"] is False and saved["ca_file"] == str(ca_file)
        agent = await env.run(Agent(saved["agent_id"], state_dir, tmp_path / "tls.log"))
        output, _ = await run_script(env, agent, script("echo over tls"))
        assert output == b"over tls\n"
        agent.proc.send_signal(signal.SIGTERM)
        assert await env.finish(agent) == 0
    finally:
        await server.stop(grace=None)
