"""Billing test data through the real APIs: a fresh customer with an admin portal user, and staff-made invoices
and estimates for it (identity's and billing's staff RPCs, as the seed uses them).

`BillingCluster` is billing as operators scale it, for the exactly-once test and bench/payments.py: NATS and
identity (from the local runner), one shared sandbox processor, N `python -m billing` replicas on one
PostgreSQL database, and the gateway process with all N replicas as its billing address, so its one channel
spreads calls over them round-robin.
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
class BillingCluster:
    """Start with `start()`, always `stop()`; `billing_env` is added to every replica's environment."""

    root: Path
    database_url: str
    replicas: int = 2
    billing_env: dict[str, str] = field(default_factory=dict)
    stack: Stack = field(init=False)
    sandbox_url: str = field(init=False)
    billing_addrs: list[str] = field(init=False, default_factory=list)
    metrics_urls: list[str] = field(init=False, default_factory=list)
    billing_logs: list[Path] = field(init=False, default_factory=list)
    billing_procs: list[ManagedProcess] = field(init=False, default_factory=list)
    gateway_url: str = field(init=False)
    _procs: list[ManagedProcess] = field(init=False, default_factory=list)
    _ports: set[int] = field(init=False, default_factory=set)

    def start(self) -> BillingCluster:
        self.stack = Stack(StackConfig(var_dir=self.root / "var", free_ports=True, processes=("nats", "identity")))
        try:
            self.stack.start()
            self._start_rest()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_rest(self) -> None:
        assert self.stack.keys is not None
        sandbox_port = self._free_port()
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        sandbox = self._spawn("sandbox", ["billing.payments.sandbox", "--port", str(sandbox_port)], os.environ)
        _wait(lambda: http_status(f"{self.sandbox_url}/healthz") == 200, sandbox)
        for i in range(self.replicas):
            port, metrics_port = self._free_port(), self._free_port()
            self.billing_addrs.append(f"127.0.0.1:{port}")
            self.metrics_urls.append(f"http://127.0.0.1:{metrics_port}/metrics")
            env = {
                **os.environ,
                "BILLING_DATABASE_URL": self.database_url,
                "BILLING_PRINCIPAL_PUBLIC_KEY_FILE": str(self.stack.keys.public_key_file),
                "BILLING_NATS_URL": self.stack.nats_url,
                "BILLING_GRPC_PORT": str(port),
                "BILLING_METRICS_PORT": str(metrics_port),
                "BILLING_SANDBOX_URL": self.sandbox_url,
                **self.billing_env,
            }
            proc = self._spawn(f"billing-{i}", ["billing"], env)
            self.billing_procs.append(proc)
            self.billing_logs.append(proc.log_path)
            # One at a time: the first migrates, the next finds the schema at head (as a migration Job would).
            _wait(lambda a=self.billing_addrs[-1]: grpc_serving(a), proc)
        env = {
            **os.environ,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
            **self.stack.env_for("gateway"),
            "GATEWAY_BILLING_ADDR": "ipv4:" + ",".join(self.billing_addrs),
            "GATEWAY_LOG_LEVEL": "WARNING",
        }
        self.gateway_url = self.stack.gateway_url
        gateway = self._spawn("gateway", ["gateway"], env)
        _wait(lambda: http_status(f"{self.gateway_url}/healthz") == 200, gateway)

    def _free_port(self) -> int:
        """A free port that is not one the stack chose for a process it has not started yet (the gateway's): a
        sandbox that took it answered the cluster's health check in the gateway's place."""
        taken = set(self.stack.ports.values()) | self._ports
        while (port := free_port()) in taken:
            pass
        self._ports.add(port)
        return port

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | os._Environ) -> ManagedProcess:
        proc = ManagedProcess(name, [sys.executable, "-m", *args], log_path=self.root / f"{name}.log", env=dict(env))
        proc.start()
        self._procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.stop()
        self._procs.clear()
        self.stack.stop()

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


def _wait(check: Callable[[], bool], proc: ManagedProcess, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if not proc.running or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not start:\n{proc.log_tail()}")
        time.sleep(0.1)
