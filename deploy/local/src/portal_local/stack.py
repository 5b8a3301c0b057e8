"""The whole platform on one machine: NATS, the S3 server, the mail catcher, five services and the gateway, and
on request more remote replicas (`remote_replicas`) and device agents (`start_agent`).

Each runs as its own process with the env of the local contract, logs to <var>/logs/<name>.log, and
is stopped with SIGTERM (then SIGKILL). Services apply their own migrations; the runner does not.

With `supervise=True` (what `python -m portal_local run` uses) a thread restarts any process that exits without
being asked to, after a backoff (0.5 s doubling to 10 s, back to 0.5 s once it has run 30 s), and logs each exit
and restart on the `portal_local.supervisor` logger; `restarts` keeps them for tests. A process stopped on purpose
(`stop_process`, `ManagedProcess.stop`, `NatsServer.stop`) is left alone until `start_process` (or its own start).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portal_local.keys import LocalKeys, ensure_keys
from portal_local.nats import NatsServer
from portal_local.ports import HOST, PortWant, check_ports_free, free_port
from portal_local.procs import ManagedProcess, http_status, tail
from portal_local.s3 import WeedS3
from portal_local.topology import ALLOCATOR_ENV, NODES, SERVICES

PROCESSES: tuple[str, ...] = ("nats", "s3", "mailcatcher", *SERVICES, "gateway")
# The S3 key pair of `make run`'s own server: it listens on loopback only, and a fixed pair lets a developer point
# an S3 client at ./var/s3 between runs.
LOCAL_S3_ACCESS_KEY = "portal-local"
LOCAL_S3_SECRET_KEY = "portal-local-secret"  # noqa: S105 (dev only, loopback)

log = logging.getLogger("portal_local.supervisor")

DEFAULT_STAFF_EMAIL = "admin@example.test"
DEFAULT_STAFF_PASSWORD = "demo-admin-123"  # noqa: S105 (published demo login, dev only)
MAIL_FROM = "portal@example.test"


@dataclass(frozen=True)
class PortSlot:
    key: str  # name in Stack.ports
    default: int
    process: str
    what: str
    env_var: str  # read by `python -m portal_local run` as the default of `flag`
    flag: str


def _port_slots() -> tuple[PortSlot, ...]:
    slots = [
        PortSlot("nats", 4222, "nats", "NATS client", "PORTAL_NATS_PORT", "--nats-port"),
        PortSlot("nats_http", 8222, "nats", "NATS monitoring", "PORTAL_NATS_HTTP_PORT", "--nats-http-port"),
        PortSlot("s3", 8333, "s3", "S3 (weed)", "PORTAL_S3_PORT", "--s3-port"),
        PortSlot("smtp", 1025, "mailcatcher", "mail catcher SMTP", "PORTAL_SMTP_PORT", "--smtp-port"),
        PortSlot("mail_http", 8025, "mailcatcher", "mail catcher web", "PORTAL_MAIL_HTTP_PORT", "--mail-http-port"),
    ]
    for i, svc in enumerate(SERVICES):
        up = svc.upper()
        grpc_port = NODES[svc].port
        slots.append(PortSlot(f"{svc}_grpc", grpc_port, svc, f"{svc} gRPC", f"{up}_GRPC_PORT", f"--{svc}-grpc-port"))
        slots.append(
            PortSlot(f"{svc}_metrics", 9101 + i, svc, f"{svc} metrics", f"{up}_METRICS_PORT", f"--{svc}-metrics-port")
        )
    # The remote service's second gRPC server, which serves only the agents' AgentService.
    slots.append(
        PortSlot("remote_agent", 50065, "remote", "remote agents' gRPC", "REMOTE_AGENT_PORT", "--remote-agent-port")
    )
    slots.append(
        PortSlot(
            "gateway_http", NODES["gateway"].port, "gateway", "gateway HTTP", "GATEWAY_HTTP_PORT", "--gateway-port"
        )
    )
    slots.append(
        PortSlot(
            "gateway_metrics", 9100, "gateway", "gateway metrics", "GATEWAY_METRICS_PORT", "--gateway-metrics-port"
        )
    )
    return tuple(slots)


PORT_SLOTS: tuple[PortSlot, ...] = _port_slots()
# A remote replica after the first ("remote-2", ...) takes these ports, each the first replica's default plus
# REPLICA_PORT_STEP per replica (or a free port in tests).
REPLICA_PORTS = ("grpc", "metrics", "agent")
REPLICA_PORT_STEP = 100
# A gateway replica after the first ("gateway-2", ...) takes these, in the same way.
GATEWAY_REPLICA_PORTS = ("http", "metrics")
# `portal-agent run` exits with this code when the broker refuses its credential (revoked): not restarted.
AGENT_REVOKED_EXIT = 3


class StackError(RuntimeError):
    pass


@dataclass
class StackConfig:
    var_dir: Path = Path("var")
    # Explicit ports by PortSlot.key; they win over everything else.
    ports: Mapping[str, int] = field(default_factory=dict)
    # Added to every default port, e.g. 1000 gives gateway 9000, identity 51051.
    port_offset: int = 0
    # Pick a free port for every slot not given in `ports` (tests).
    free_ports: bool = False
    # Applied last to every child's environment.
    env: Mapping[str, str] = field(default_factory=dict)
    processes: Collection[str] = PROCESSES
    host: str = HOST
    ready_timeout: float = 90.0
    stop_timeout: float = 10.0
    # An S3 server already running (tests share one per session); None: the stack starts its own when "s3" is
    # among `processes`, else services keep files under <var>/blobs.
    s3: WeedS3 | None = None
    staff_email: str = DEFAULT_STAFF_EMAIL
    staff_password: str = DEFAULT_STAFF_PASSWORD
    # Restart a process that exits unexpectedly (after start() has seen everything ready).
    supervise: bool = False
    restart_delay: float = 0.5  # first restart's wait; doubles per quick crash ...
    restart_delay_max: float = 10.0  # ... up to this
    restart_reset_after: float = 30.0  # a process that ran this long before dying starts again from restart_delay
    # Remote processes sharing one database and NATS ("remote", "remote-2", ...), each with its own ports and
    # REMOTE_REPLICA_ID; the gateway and identity talk to the first.
    remote_replicas: int = 1
    # Gateway processes on the same services and NATS ("gateway", "gateway-2", ...), each on its own HTTP and metrics
    # ports (gateway_urls); `gateway_url` is the first. Tests of coherence across replicas (the read cache, issue 16).
    gateway_replicas: int = 1


@dataclass(frozen=True)
class Restart:
    """One restart by the supervisor: what exited, how, and which attempt in a row this is."""

    name: str
    exit: str  # "signal SIGKILL", "exit code 1"
    ran_for: float  # seconds the process had run
    attempt: int  # 1 for the first restart after a process that had run a while
    delay: float  # seconds waited before restarting
    pid: int | None = None  # the new process


class Stack:
    """Start with `start()` (or `with Stack(...) as stack:`); always ends with `stop()`."""

    def __init__(self, config: StackConfig | None = None, **overrides: object) -> None:
        cfg = config or StackConfig()
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise TypeError(f"unknown Stack option {k!r}")
            setattr(cfg, k, v)
        unknown = set(cfg.processes) - set(PROCESSES)
        if unknown:
            raise ValueError(f"unknown processes {sorted(unknown)}; choose from {PROCESSES}")
        unknown_ports = set(cfg.ports) - {s.key for s in PORT_SLOTS}
        if unknown_ports:
            raise ValueError(f"unknown port names {sorted(unknown_ports)}; choose from {[s.key for s in PORT_SLOTS]}")
        if int(cfg.remote_replicas) < 1:
            raise ValueError(f"remote_replicas must be at least 1, not {cfg.remote_replicas}")
        if int(cfg.gateway_replicas) < 1:
            raise ValueError(f"gateway_replicas must be at least 1, not {cfg.gateway_replicas}")
        self.config = cfg
        self.host = cfg.host
        self.var_dir = Path(cfg.var_dir).resolve()
        self.logs_dir = self.var_dir / "logs"
        # A shared S3 server given in the config is already running: the stack does not start its own.
        self.enabled: tuple[str, ...] = tuple(
            p for p in PROCESSES if p in cfg.processes and not (p == "s3" and cfg.s3 is not None)
        )
        # Further remote replicas start with the first, after the other services' tier.
        self.remote_replicas: tuple[str, ...] = (
            tuple(f"remote-{i}" for i in range(2, int(cfg.remote_replicas) + 1)) if "remote" in self.enabled else ()
        )
        self.gateway_replicas: tuple[str, ...] = (
            tuple(f"gateway-{i}" for i in range(2, int(cfg.gateway_replicas) + 1)) if "gateway" in self.enabled else ()
        )
        self.ports: dict[str, int] = {}
        for slot in PORT_SLOTS:
            if slot.key in cfg.ports:
                self.ports[slot.key] = int(cfg.ports[slot.key])
            elif cfg.free_ports:
                self.ports[slot.key] = self._unused_free_port()
            else:
                self.ports[slot.key] = slot.default + cfg.port_offset
        for i, replica in enumerate(self.remote_replicas, start=1):
            for what in REPLICA_PORTS:
                first = self.ports[f"remote_{what}"]
                self.ports[f"{replica}_{what}"] = (
                    self._unused_free_port() if cfg.free_ports else first + REPLICA_PORT_STEP * i
                )
        for i, replica in enumerate(self.gateway_replicas, start=1):
            for what in GATEWAY_REPLICA_PORTS:
                first = self.ports[f"gateway_{what}"]
                self.ports[f"{replica}_{what}"] = (
                    self._unused_free_port() if cfg.free_ports else first + REPLICA_PORT_STEP * i
                )
        self._agents = 0
        self.keys: LocalKeys | None = None
        self.nats: NatsServer | None = None
        self.s3: WeedS3 | None = cfg.s3
        self.processes: dict[str, ManagedProcess] = {}
        self._started = False
        self.restarts: list[Restart] = []
        self._lock = threading.RLock()  # spawning, stopping and restarting one process at a time
        self._held: set[str] = set()  # stopped on purpose through stop_process
        self._supervisor: threading.Thread | None = None
        self._supervisor_stop = threading.Event()

    def _module(self, name: str) -> str:
        """The module a process runs: a further replica runs its first's."""
        if name in self.remote_replicas:
            return "remote"
        if name in self.gateway_replicas:
            return "gateway"
        return name

    def _unused_free_port(self) -> int:
        """A free port that no other slot of this stack was given: the OS may hand back a port it reported free a
        moment ago (each check releases it), and two processes on one port fail the stack's start."""
        taken = set(self.ports.values())
        for _ in range(100):
            port = free_port(self.host)
            if port not in taken:
                return port
        raise StackError("no free port that this stack has not already given out")

    # -- addresses -------------------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        return f"nats://{self.host}:{self.ports['nats']}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.ports['gateway_http']}"

    @property
    def gateway_urls(self) -> list[str]:
        """Every gateway replica's base URL, the first being gateway_url."""
        names = ("gateway", *self.gateway_replicas) if "gateway" in self.enabled else ()
        return [f"http://{self.host}:{self.ports[f'{n}_http']}" for n in names]

    @property
    def portal_url(self) -> str:
        return self.gateway_url + "/"

    @property
    def staff_url(self) -> str:
        return self.gateway_url + "/staff"

    @property
    def mail_url(self) -> str:
        return f"http://{self.host}:{self.ports['mail_http']}"

    @property
    def smtp_port(self) -> int:
        return self.ports["smtp"]

    def grpc_addr(self, service: str) -> str:
        return f"{self.host}:{self.ports[f'{service}_grpc']}"

    def metrics_url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[f'{name}_metrics']}/metrics"

    @property
    def remote_names(self) -> tuple[str, ...]:
        """The remote replicas' process names: "remote" (the one the gateway calls), then "remote-2", ..."""
        return ("remote", *self.remote_replicas) if "remote" in self.enabled else ()

    @property
    def agent_addresses(self) -> list[str]:
        """Each remote replica's agents' endpoint (host:port, plaintext on loopback), in replica order."""
        return [f"{self.host}:{self.ports[f'{name}_agent']}" for name in self.remote_names]

    @property
    def addresses(self) -> dict[str, str]:
        """Every endpoint by name, for printing and for tests."""
        out = {
            "portal": self.portal_url,
            "staff": self.staff_url,
            "mail": self.mail_url,
            "smtp": f"{self.host}:{self.smtp_port}",
            "nats": self.nats_url,
            "nats_monitoring": f"http://{self.host}:{self.ports['nats_http']}",
        }
        if self.s3 is not None:
            out["s3"] = self.s3.endpoint
        out.update({svc: self.grpc_addr(svc) for svc in SERVICES})
        return out

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    # -- environment -----------------------------------------------------------------------------

    def env_for(self, name: str) -> dict[str, str]:
        """The variables the contract gives process `name` (without the inherited environment)."""
        assert self.keys is not None, "keys are created by start()"
        env: dict[str, str] = {}
        node = NODES.get(self._module(name))
        if node is None:  # NATS and the mail catcher take flags, not variables
            return env
        up = node.env_prefix
        env.update(ALLOCATOR_ENV)
        # Peers from the topology the chart shares (portal_local.topology).
        env.update({f"{up}_{peer.upper()}_ADDR": self.grpc_addr(peer) for peer in node.calls})
        if node.principal_key == "verify":
            env[f"{up}_PRINCIPAL_PUBLIC_KEY_FILE"] = str(self.keys.public_key_file)
        elif node.principal_key == "sign":
            env[f"{up}_SIGNING_KEY_FILE"] = str(self.keys.private_key_file)
            env[f"{up}_SECRETS_KEY_FILE"] = str(self.keys.secrets_key_file)
        if node.mail:
            env.update(
                {f"{up}_SMTP_HOST": self.host, f"{up}_SMTP_PORT": str(self.smtp_port), f"{up}_MAIL_FROM": MAIL_FROM}
            )
        if node.blobs:
            if self.s3 is not None:
                env[f"{up}_BLOB_STORE"] = self.s3.store_url(name)
                env.update(self.s3.env())
            else:
                env[f"{up}_BLOB_STORE"] = (self.var_dir / "blobs" / name).as_uri()
        if node.kind == "grpc":
            env.update(
                {
                    f"{up}_ENV": "dev",
                    f"{up}_GRPC_HOST": self.host,
                    f"{up}_GRPC_PORT": str(self.ports[f"{name}_grpc"]),
                    f"{up}_METRICS_PORT": str(self.ports[f"{name}_metrics"]),
                    f"{up}_DATABASE_URL": f"sqlite+aiosqlite:///{self.var_dir / f'{node.name}.db'}",
                    f"{up}_NATS_URL": self.nats_url,
                }
            )
        else:
            env.update(
                {
                    f"{up}_ENV": "dev",
                    f"{up}_HTTP_PORT": str(self.ports[f"{name}_http"]),
                    f"{up}_METRICS_PORT": str(self.ports[f"{name}_metrics"]),
                    f"{up}_NATS_URL": self.nats_url,
                }
            )
        # What only the local mode sets, beyond the chart's shared contract.
        if name == "identity":
            env.update(
                {
                    "IDENTITY_PORTAL_URL": self.gateway_url,
                    "IDENTITY_BOOTSTRAP_STAFF_EMAIL": self.config.staff_email,
                    "IDENTITY_BOOTSTRAP_STAFF_PASSWORD": self.config.staff_password,
                    # Web push (docs/push.md): the VAPID key generated once under var/keys.
                    "IDENTITY_VAPID_PRIVATE_KEY_FILE": str(self.keys.vapid_key_file),
                    "IDENTITY_VAPID_SUBJECT": f"mailto:{MAIL_FROM}",
                }
            )
        elif name == "assets":
            # The master key that wraps masked credentials' data keys (generated once under var/keys).
            env["ASSETS_CREDENTIAL_KEYS"] = str(self.keys.credential_keys_file)
        elif name == "billing":
            # The embedded sandbox processor keeps stored cards and charges on disk, so they survive a restart.
            env["BILLING_SANDBOX_STATE"] = str(self.var_dir / "sandbox.db")
            # Who bills, on every invoice PDF: a demo provider unless the operator names one.
            env["BILLING_PROVIDER_NAME"] = os.environ.get("BILLING_PROVIDER_NAME", "Example IT Services")
            env["BILLING_PROVIDER_ADDRESS"] = os.environ.get(
                "BILLING_PROVIDER_ADDRESS", "1 Example Street|Springfield, IL 62701|USA"
            )
        elif node.name == "remote":
            replica = self.remote_names.index(name) + 1 if name in self.remote_names else 1
            env.update(
                {
                    # One command-signing key for every replica: an agent verifies commands whichever sends them.
                    "REMOTE_COMMAND_KEY_FILE": str(self.keys.command_key_file),
                    "REMOTE_AGENT_PORT": str(self.ports[f"{name}_agent"]),
                    # The contract's name for the assets peer (the topology's REMOTE_ASSETS_ADDR is set too).
                    "REMOTE_ASSETS_ADDRESS": self.grpc_addr("assets"),
                    "REMOTE_REPLICA_ID": f"remote-{replica}",
                }
            )
        elif node.name == "gateway":
            # The gateway's links in pages must use the port it really has.
            env["GATEWAY_PUBLIC_URL"] = f"http://{self.host}:{self.ports[f'{name}_http']}"
            # What the staff console prints in `portal-agent enrol --server …`: the first replica's agents' port.
            if self.remote_names:
                env["GATEWAY_AGENT_PUBLIC_ADDRESS"] = self.agent_addresses[0]
            env["GATEWAY_SESSION_SECRET"] = self.keys.session_secret
        return env

    def _child_env(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        # Keep loopback traffic away from any proxy configured in the environment (gRPC honours it too).
        for var in ("no_proxy", "NO_PROXY"):
            env[var] = ",".join(x for x in (env.get(var, ""), "127.0.0.1,localhost") if x)
        env.update(self.env_for(name))
        env.update(self.config.env)
        return env

    # -- lifecycle -------------------------------------------------------------------------------

    def port_wants(self) -> list[PortWant]:
        enabled = self.enabled
        wants = [PortWant(self.ports[s.key], s.what, s.env_var, s.flag) for s in PORT_SLOTS if s.process in enabled]
        for replica in self.remote_replicas:
            for what in REPLICA_PORTS:
                wants.append(PortWant(self.ports[f"{replica}_{what}"], f"{replica} {what}", "", ""))
        for replica in self.gateway_replicas:
            for what in GATEWAY_REPLICA_PORTS:
                wants.append(PortWant(self.ports[f"{replica}_{what}"], f"{replica} {what}", "", ""))
        return wants

    def start(self) -> Stack:
        if self._started:
            return self
        check_ports_free(self.port_wants(), self.host)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.keys = ensure_keys(self.var_dir)
        self._started = True
        atexit.register(self.stop)
        try:
            # NATS, S3 and the mail catcher first: services connect to them as they start.
            first = [p for p in ("nats", "s3", "mailcatcher") if p in self.enabled]
            for name in first:
                self._spawn(name)
            try:
                self._wait_ready(first)
            except StackError:
                if not self._s3_lost_a_port():
                    raise
                # weed binds a dozen internal ports chosen free a moment before; another process on the machine
                # took one in between. A new WeedS3 chooses them afresh (its S3 port stays the one clients know).
                self._spawn("s3")
                self._wait_ready(first)
            rest = [p for p in self.enabled if p not in first]
            for name in rest:
                self._spawn(name)
            self._wait_ready(rest)
            # Further remote replicas once the first has migrated the shared database (two migrating one SQLite
            # file at once could collide).
            for name in self.remote_replicas:
                self._spawn(name)
            self._wait_ready(list(self.remote_replicas))
            for name in self.gateway_replicas:
                self._spawn(name)
            self._wait_ready(list(self.gateway_replicas))
        except BaseException:
            self.stop()
            raise
        if self.config.supervise:
            self._supervisor_stop.clear()
            self._supervisor = threading.Thread(target=self._supervise, name="portal-local-supervisor", daemon=True)
            self._supervisor.start()
        return self

    # -- one process at a time (tests that stop a process on purpose) ------------------------------

    def process(self, name: str) -> ManagedProcess:
        if name not in self.processes:
            raise KeyError(f"{name} is not running in this stack; started: {', '.join(self.processes)}")
        return self.processes[name]

    def stop_process(self, name: str, *, sig: int = signal.SIGTERM, timeout: float | None = None) -> None:
        """Stop one process on purpose (SIGTERM then SIGKILL; `sig=signal.SIGKILL` for an abrupt end); the
        supervisor leaves it stopped until `start_process(name)`."""
        with self._lock:
            proc = self.process(name)
            self._held.add(name)
            proc.stopped_on_purpose = True
            if sig != signal.SIGTERM:
                proc.signal(sig)
            proc.stop(self.config.stop_timeout if timeout is None else timeout)

    def start_process(self, name: str, *, wait: bool = True) -> ManagedProcess:
        """Start again a process stopped with `stop_process` (or that died), and wait until it is ready."""
        with self._lock:
            proc = self.process(name)
            self._held.discard(name)
            if not proc.running:
                proc.start("started again on request")
        if wait:
            self._wait_ready([name])
        return proc

    def kill_process(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to one process as a crash would (not on purpose: the supervisor, if on, restarts it);
        returns the pid it was sent to."""
        proc = self.process(name)
        pid = proc.pid
        if pid is None or not proc.running:
            raise RuntimeError(f"{name} is not running")
        proc.signal(sig)
        return pid

    # -- device agents (portal-agent) ---------------------------------------------------------------

    def start_agent(self, state_dir: Path | str, token: str, replica: int = 0, *, name: str = "") -> ManagedProcess:
        """Enrol a `portal-agent` with a one-time enrolment token against replica `replica`'s agents' endpoint
        (plaintext on loopback: `--insecure`), then run it, supervised like the other processes (its name, e.g.
        "agent-1", works with `process`, `kill_process`, `stop_process`). Its state (agent.json, agent.key) stays in
        `state_dir`; with a state dir already enrolled, pass token="" to only run it again."""
        if not self._started:
            raise StackError("start the stack before an agent")
        names = self.remote_names
        if not 0 <= replica < len(names):
            raise ValueError(f"replica must be in 0..{len(names) - 1} (remote_replicas={len(names)}), not {replica}")
        exe = portal_agent_executable()
        state = Path(state_dir).resolve()
        state.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._agents += 1
            name = name or f"agent-{self._agents}"
        if name in self.processes:
            raise ValueError(f"a process named {name} is already in this stack")
        log_path = self.log_path(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({"PYTHONUNBUFFERED": "1", "PORTAL_AGENT_STATE_DIR": str(state)})
        for var in ("no_proxy", "NO_PROXY"):
            env[var] = ",".join(x for x in (env.get(var, ""), "127.0.0.1,localhost") if x)
        if token:
            server = self.agent_addresses[replica]
            argv = [exe, "enrol", "--server", server, "--token", token, "--state-dir", str(state), "--insecure"]
            with log_path.open("ab") as log:
                log.write(f"\n=== enrolling {name} with {server}\n".encode())
                log.flush()
                try:
                    done = subprocess.run(  # noqa: S603 - our own console script, arguments as a list
                        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=60
                    )
                except subprocess.TimeoutExpired:
                    raise StackError(f"portal-agent enrol for {name} took over 60 s; see {log_path}") from None
            if done.returncode != 0:
                # The log has the agent's own message; the token is not repeated here.
                raise StackError(
                    f"portal-agent enrol for {name} failed (exit code {done.returncode}); "
                    f"last lines of {log_path}:\n{tail(log_path)}"
                )
        proc = ManagedProcess(name, [exe, "run", "--state-dir", str(state)], log_path=log_path, env=env)
        with self._lock:
            proc.start()
            self.processes[name] = proc
        return proc

    @property
    def agents(self) -> dict[str, ManagedProcess]:
        return {n: p for n, p in self.processes.items() if _is_agent(n)}

    def _supervise(self) -> None:
        """Restart what exits unexpectedly, with backoff; runs until stop()."""
        due: dict[str, tuple[float, Restart]] = {}  # name -> (restart at, what will be logged)
        attempts: dict[str, int] = {}
        waiting_ready: dict[str, float] = {}  # restarted, not yet ready -> when restarted
        while not self._supervisor_stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                for name, proc in list(self.processes.items()):
                    if proc.running or proc.stopped_on_purpose or name in self._held:
                        due.pop(name, None)
                        continue
                    if _is_agent(name) and proc.returncode == AGENT_REVOKED_EXIT:
                        # Revoked: starting it again would only be refused again.
                        self._held.add(name)
                        log.warning("%s exited: its credential was refused (revoked); not restarted", name)
                        continue
                    if name not in due:
                        ran_for = now - proc.started_at
                        attempt = 1 if ran_for >= self.config.restart_reset_after else attempts.get(name, 0) + 1
                        attempts[name] = attempt
                        delay = min(self.config.restart_delay * 2 ** (attempt - 1), self.config.restart_delay_max)
                        event = Restart(name, proc.describe_exit(), round(ran_for, 1), attempt, delay)
                        due[name] = (now + delay, event)
                        log.warning(
                            "%s exited (%s) after %.1fs; restarting in %.1fs (attempt %d); last lines of %s:\n%s",
                            name,
                            event.exit,
                            ran_for,
                            delay,
                            attempt,
                            proc.log_path,
                            proc.log_tail(10),
                        )
                    at, event = due[name]
                    if now < at:
                        continue
                    del due[name]
                    try:
                        proc.start(f"restart {event.attempt} after {event.exit}")
                    except OSError as exc:
                        log.error("%s: cannot restart: %s", name, exc)
                        continue
                    event = Restart(event.name, event.exit, event.ran_for, event.attempt, event.delay, proc.pid)
                    self.restarts.append(event)
                    waiting_ready[name] = now
                    log.warning("restarted %s (pid %s, attempt %d)", name, proc.pid, event.attempt)
            for name, since in list(waiting_ready.items()):
                proc = self.processes.get(name)
                if proc is None or not proc.running:
                    waiting_ready.pop(name)
                elif self._probe(name):
                    waiting_ready.pop(name)
                    log.warning("%s is ready again after %.1fs", name, time.monotonic() - since)

    def _probe(self, name: str) -> bool:
        try:
            return self.is_ready(name)
        except Exception:  # a probe must never end the supervisor
            return False

    def _spawn(self, name: str) -> None:
        if name == "nats":
            self.nats = NatsServer(
                self.var_dir / "nats",
                port=self.ports["nats"],
                http_port=self.ports["nats_http"],
                host=self.host,
                log_path=self.log_path("nats"),
            )
            self.nats.store_dir.mkdir(parents=True, exist_ok=True)
            proc = self.nats.process
        elif name == "s3":
            self.s3 = WeedS3(
                self.var_dir / "s3",
                port=self.ports["s3"],
                host=self.host,
                access_key=LOCAL_S3_ACCESS_KEY,
                secret_key=LOCAL_S3_SECRET_KEY,
                log_path=self.log_path("s3"),
            )
            self.s3.prepare()
            proc = self.s3.process
        else:
            if name == "mailcatcher":
                args = [
                    "portal_local.mailcatcher",
                    "--host",
                    self.host,
                    "--smtp-port",
                    str(self.smtp_port),
                    "--http-port",
                    str(self.ports["mail_http"]),
                ]
            else:
                # A further replica ("remote-2", "gateway-2") runs the same module.
                args = [self._module(name)]
            proc = ManagedProcess(
                name, [sys.executable, "-m", *args], log_path=self.log_path(name), env=self._child_env(name)
            )
        proc.start()
        self.processes[name] = proc

    def _s3_lost_a_port(self) -> bool:
        proc = self.processes.get("s3")
        if proc is None or proc.running:
            return False
        try:
            return "Port allocation failed" in self.log_path("s3").read_text("utf-8", "replace")
        except OSError:
            return False

    def is_ready(self, name: str) -> bool:
        if name == "nats":
            return self.nats is not None and self.nats.is_ready()
        if name == "s3":
            return self.s3 is not None and self.s3.is_ready()
        if name == "mailcatcher":
            return http_status(f"{self.mail_url}/api/messages", timeout=0.5) == 200
        if name == "gateway" or name in self.gateway_replicas:
            return http_status(f"http://{self.host}:{self.ports[f'{name}_http']}/readyz", timeout=1.0) == 200
        if _is_agent(name):
            proc = self.processes.get(name)
            return proc is not None and proc.running
        return grpc_serving(self.grpc_addr(name))

    def _wait_ready(self, names: list[str]) -> None:
        deadline = time.monotonic() + self.config.ready_timeout
        pending = list(names)
        while pending:
            for name in list(pending):
                proc = self.processes[name]
                if not proc.running:
                    raise StackError(
                        f"{name} exited with code {proc.returncode} while starting; "
                        f"last lines of {proc.log_path}:\n{proc.log_tail()}"
                    )
                if self.is_ready(name):
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                details = "\n".join(
                    f"--- {n}: last lines of {self.processes[n].log_path}:\n{self.processes[n].log_tail()}"
                    for n in pending
                )
                raise StackError(f"not ready within {self.config.ready_timeout:.0f}s: {', '.join(pending)}\n{details}")
            if pending:
                time.sleep(0.2)

    def dead_processes(self) -> list[ManagedProcess]:
        """Processes that were started and have exited since."""
        return [p for p in self.processes.values() if not p.running]

    def stop(self) -> None:
        """Gateway first, then the services, then NATS and the mail catcher; each tier SIGTERM then SIGKILL."""
        if not self._started:
            return
        # The supervisor first, so that nothing stopped below is started again.
        self._supervisor_stop.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout=10)
        self._supervisor = None
        with self._lock:
            self._stop_all()
        atexit.unregister(self.stop)

    def _stop_all(self) -> None:
        # Agents first with the gateway: they are the remote service's clients.
        tiers = [
            ["gateway", *self.gateway_replicas, *self.agents],
            [*SERVICES, *self.remote_replicas],
            ["mailcatcher", "nats", "s3"],
        ]
        for tier in tiers:
            procs = [self.processes[n] for n in tier if n in self.processes]
            for p in procs:
                p.stopped_on_purpose = True
                p.signal(signal.SIGTERM)
            deadline = time.monotonic() + self.config.stop_timeout
            for p in procs:
                if not p.wait(max(0.0, deadline - time.monotonic())):
                    p.signal(signal.SIGKILL)
                    p.wait(5.0)
        self.processes.clear()
        self._held.clear()
        self.nats = None
        self.s3 = self.config.s3
        self._started = False

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _is_agent(name: str) -> bool:
    return name.startswith("agent-") or name.startswith("agent:")


def portal_agent_executable() -> str:
    """The `portal-agent` console script of this environment (next to the interpreter), else on PATH."""
    here = Path(sys.executable).parent / "portal-agent"
    if here.exists():
        return str(here)
    found = shutil.which("portal-agent")
    if found is None:
        raise StackError(
            "portal-agent is not installed in this environment (the workspace member services/remote/agent "
            "provides it); run `uv sync` once it is there"
        )
    return found


def grpc_serving(addr: str, timeout: float = 1.0) -> bool:
    """True when the standard gRPC health check (service "") answers SERVING."""
    host, _, port = addr.rpartition(":")
    # A plain TCP connect first: cheap, and a fresh channel per probe avoids gRPC's reconnect backoff
    # stretching the wait for a server that is still importing.
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    with grpc.insecure_channel(addr, options=[("grpc.enable_http_proxy", 0)]) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
    return resp.status == health_pb2.HealthCheckResponse.SERVING
