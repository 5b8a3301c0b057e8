"""Billing test data through the real APIs: a fresh customer with an admin portal user, and staff-made invoices
and estimates for it (identity's and billing's staff RPCs, as the seed uses them).

`BillingCluster` is billing as operators scale it, for the exactly-once test and bench/payments.py: NATS and
identity (from the local runner), one shared sandbox processor, N `python -m billing` replicas on one
PostgreSQL database, and the gateway process with all N replicas as its billing address, so its one channel
spreads calls over them round-robin.

NATS, identity and the sandbox are a `BillingBase`, which clusters of different billing settings can share one
after another (tests/e2e/conftest.py's `billing_base`): a cluster brings its own database, replicas and gateway.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.ports import free_port
from portal_local.procs import ManagedProcess, http_status
from portal_local.stack import Stack, StackConfig, grpc_serving
from portal_testkit.tls import TLS


@dataclass(frozen=True)
class BillingCustomer:
    customer_id: str
    login: str
    password: str
    business_name: str


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def staff_token(stack: Stack) -> str:
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        signed = stub.SignIn(
            identity_pb2.SignInRequest(
                login=stack.config.staff_email,
                password=stack.config.staff_password,
                audience=identity_pb2.AUDIENCE_STAFF,
            ),
            timeout=10,
        )
        return stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=10
        ).principal_token


def new_customer(stack: Stack, token: str) -> BillingCustomer:
    slug = uuid.uuid4().hex[:8]
    name, login, password = f"Billing Test {slug}", f"payer-{slug}@example.test", f"pw-{slug}-long-enough"
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        customer = stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(
                business_name=name, email=f"office-{slug}@example.test", idempotency_key=f"bill-{slug}"
            ),
            timeout=10,
            metadata=_md(token),
        ).customer
        contact = stub.CreateContact(
            identity_pb2.CreateContactRequest(
                customer_id=customer.id, name="Pat Payer", email=login, idempotency_key=f"bill-ctc-{slug}"
            ),
            timeout=10,
            metadata=_md(token),
        ).contact
        stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=customer.id, contact_id=contact.id, login=login, email=login, password=password
            ),
            timeout=10,
            metadata=_md(token),
        )
    return BillingCustomer(customer.id, login, password, name)


def invoice(stack: Stack, token: str, customer_id: str, issued_on: str, *lines: tuple[str, int], addr: str = ""):  # noqa: ANN201
    with grpc.insecure_channel(addr or stack.grpc_addr("billing")) as ch:
        return (
            billing_pb2_grpc.BillingServiceStub(ch)
            .CreateInvoice(
                billing_pb2.CreateInvoiceRequest(
                    customer_id=customer_id,
                    issued_on=issued_on,
                    currency="USD",
                    lines=[billing_pb2.LineInput(description=d, quantity="1", unit_price_minor=p) for d, p in lines],
                ),
                timeout=10,
                metadata=_md(token),
            )
            .invoice
        )


def estimate(stack: Stack, token: str, customer_id: str, name: str, *lines: tuple[str, int]):  # noqa: ANN201
    with grpc.insecure_channel(stack.grpc_addr("billing")) as ch:
        return (
            billing_pb2_grpc.BillingServiceStub(ch)
            .CreateEstimate(
                billing_pb2.CreateEstimateRequest(
                    customer_id=customer_id,
                    name=name,
                    currency="USD",
                    lines=[billing_pb2.LineInput(description=d, quantity="1", unit_price_minor=p) for d, p in lines],
                ),
                timeout=10,
                metadata=_md(token),
            )
            .estimate
        )


@dataclass
class BillingBase:
    """NATS and identity (from the local runner) and one sandbox processor; `start()`, always `stop()`.

    Shared by clusters one after another: their customers, cards and charges are each test's own (fresh customers,
    idempotency keys, tokens), and a test that changes the sandbox's behaviour sets it back.
    """

    root: Path
    stack: Stack = field(init=False)
    sandbox_url: str = field(init=False)
    _sandbox: ManagedProcess | None = field(init=False, default=None)
    _ports: set[int] = field(init=False, default_factory=set)

    def start(self) -> BillingBase:
        self.stack = Stack(StackConfig(var_dir=self.root / "var", free_ports=True, processes=("nats", "identity")))
        try:
            # The sandbox needs nothing else: it starts while the stack does.
            port = self.free_port()
            self.sandbox_url = f"http://127.0.0.1:{port}"
            self._sandbox = _spawn(self.root, "sandbox", ["billing.payments.sandbox", "--port", str(port)], os.environ)
            self.stack.start()
            _wait(lambda: http_status(f"{self.sandbox_url}/healthz") == 200, self._sandbox)
        except BaseException:
            self.stop()
            raise
        return self

    def free_port(self) -> int:
        """A free port that none of the stack's slots (among them ports it chose but never bound) or an earlier
        call got: a process that took the stack's unused gateway port answered a health check in another's place."""
        taken = set(self.stack.ports.values()) | self._ports
        while (port := free_port()) in taken:
            pass
        self._ports.add(port)
        return port

    def stop(self) -> None:
        if self._sandbox is not None:
            # Not waited for: a test may have told it to hold answers for a while (test_billing_crash: 40 s), and
            # its cards and charges are thrown away.
            self._sandbox.stop(timeout=1)
            self._sandbox = None
        if hasattr(self, "stack"):
            self.stack.stop()


@dataclass
class BillingCluster:
    """Start with `start()`, always `stop()`; `billing_env` is added to every replica's environment. Without a
    `base` the cluster starts and stops one of its own."""

    root: Path
    database_url: str
    replicas: int = 2
    billing_env: dict[str, str] = field(default_factory=dict)
    base: BillingBase | None = None
    billing_addrs: list[str] = field(init=False, default_factory=list)
    metrics_urls: list[str] = field(init=False, default_factory=list)
    billing_logs: list[Path] = field(init=False, default_factory=list)
    billing_procs: list[ManagedProcess] = field(init=False, default_factory=list)
    gateway_url: str = field(init=False)
    _procs: list[ManagedProcess] = field(init=False, default_factory=list)
    _own_base: BillingBase | None = field(init=False, default=None)

    @property
    def stack(self) -> Stack:
        assert self.base is not None, "start() the cluster first"
        return self.base.stack

    @property
    def sandbox_url(self) -> str:
        assert self.base is not None, "start() the cluster first"
        return self.base.sandbox_url

    def start(self) -> BillingCluster:
        try:
            if self.base is None:
                self._own_base = self.base = BillingBase(self.root / "base").start()
            self._start_rest()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_rest(self) -> None:
        base = self.base
        assert base is not None and base.stack.keys is not None
        gateway_port, gateway_metrics = base.free_port(), base.free_port()
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        ports = [(base.free_port(), base.free_port()) for _ in range(self.replicas)]
        for port, metrics_port in ports:
            self.billing_addrs.append(f"127.0.0.1:{port}")
            self.metrics_urls.append(f"http://127.0.0.1:{metrics_port}/metrics")
        gateway_env = {
            **os.environ,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
            **base.stack.env_for("gateway"),
            "GATEWAY_HTTP_PORT": str(gateway_port),
            "GATEWAY_METRICS_PORT": str(gateway_metrics),
            "GATEWAY_PUBLIC_URL": self.gateway_url,
            "GATEWAY_BILLING_ADDR": "ipv4:" + ",".join(self.billing_addrs),
            "GATEWAY_LOG_LEVEL": "WARNING",
        }
        gateway: ManagedProcess | None = None
        for i, (addr, (port, metrics_port)) in enumerate(zip(self.billing_addrs, ports, strict=True)):
            env = {
                **os.environ,
                "BILLING_DATABASE_URL": self.database_url,
                "BILLING_PRINCIPAL_PUBLIC_KEY_FILE": str(base.stack.keys.public_key_file),
                "BILLING_NATS_URL": base.stack.nats_url,
                "BILLING_GRPC_PORT": str(port),
                "BILLING_METRICS_PORT": str(metrics_port),
                "BILLING_SANDBOX_URL": base.sandbox_url,
                **self.billing_env,
            }
            proc = self._spawn(f"billing-{i}", ["billing"], env)
            self.billing_procs.append(proc)
            self.billing_logs.append(proc.log_path)
            if self.replicas == 1:
                # One replica: the gateway imports while billing starts; it is waited for below until its channel
                # reaches billing. With more, it starts once every replica serves, so its channel's first connection
                # finds them all (the exactly-once tests check that calls spread over both).
                gateway = self._spawn("gateway", ["gateway"], gateway_env)
            # One at a time: the first migrates, the next finds the schema at head (as a migration Job would).
            _wait(lambda a=addr: grpc_serving(a), proc)
        if gateway is None:
            gateway = self._spawn("gateway", ["gateway"], gateway_env)
        _wait(lambda: _backend_status(self.gateway_url, "billing") == "SERVING", gateway)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | os._Environ) -> ManagedProcess:
        proc = _spawn(self.root, name, args, env)
        self._procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.stop()
        self._procs.clear()
        if self._own_base is not None:
            self._own_base.stop()
            self._own_base = None

    def kill_billing(self, i: int = 0) -> None:
        """SIGKILL replica `i`: no shutdown, nothing finished — what an OOM kill or a node loss does."""
        proc = self.billing_procs[i]
        proc.signal(signal.SIGKILL)
        assert proc.wait(10), f"billing-{i} survived SIGKILL"

    def restart_billing(self, i: int = 0) -> None:
        """Start replica `i` again, on the same port and database, as its Deployment would."""
        proc = self.billing_procs[i]
        proc.start()
        _wait(lambda: grpc_serving(self.billing_addrs[i]), proc)

    def served(self, method: str) -> list[int]:
        """How many calls of `method` each replica answered, from its Prometheus metrics."""
        counts = []
        for url in self.metrics_urls:
            text = httpx.get(url, timeout=5, trust_env=False).text
            counts.append(
                int(
                    sum(
                        float(line.rsplit(" ", 1)[1])
                        for line in text.splitlines()
                        if line.startswith("portal_billing_grpc_requests_total{") and f'method="{method}"' in line
                    )
                )
            )
        return counts

    def portal_user(self) -> tuple[BillingCustomer, str]:
        """A fresh customer with an admin portal user, signed in through the gateway: (customer, session token)."""
        customer = new_customer(self.stack, staff_token(self.stack))
        resp = httpx.post(
            f"{self.gateway_url}/api/v1/sessions",
            json={"login": customer.login, "password": customer.password},
            timeout=15,
            trust_env=False,
        )
        assert resp.status_code == 201, resp.text
        return customer, resp.json()["session_token"]


def _spawn(root: Path, name: str, args: list[str], env: dict[str, str] | os._Environ) -> ManagedProcess:
    proc = ManagedProcess(name, [sys.executable, "-m", *args], log_path=root / f"{name}.log", env=dict(env))
    proc.start()
    return proc


def _backend_status(gateway_url: str, backend: str) -> str | None:
    """A backend's health as the gateway's own channel sees it (its /readyz body), None while the gateway does
    not answer."""
    try:
        resp = httpx.get(f"{gateway_url}/readyz", timeout=2, trust_env=False, verify=TLS)
        return resp.json()["backends"].get(backend)
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _wait(check: Callable[[], bool], proc: ManagedProcess, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if not proc.running or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not start:\n{proc.log_tail()}")
        time.sleep(0.1)
