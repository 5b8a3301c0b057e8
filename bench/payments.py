"""Benchmark: payments per second through the gateway with one billing replica and with two, side by side.

Each run starts its own cluster (tests/e2e/billing_world.BillingCluster): nats-server and identity from the
local runner, one shared sandbox processor, N `python -m billing` replicas on one fresh database of one
embedded PostgreSQL, and `python -m gateway` whose billing address lists the N replicas (its channel spreads
calls round-robin). It makes `--customers` portal users, each signed in over HTTP with one large open invoice
and a stored card, then `--concurrency` workers send `POST /api/v1/payments` (a distinct Idempotency-Key each,
small amounts) for `--seconds`. It prints payments/s, p50 and p99 latency, the error count (must be 0), and the
sandbox's charges and the payment rows in PostgreSQL (both must equal the payments), plus how many MakePayment
calls each replica served.

Run: `uv run python bench/payments.py [--seconds 10] [--concurrency 32]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.e2e.billing_world

from portal_testkit.postgres import EmbeddedPostgres  # noqa: E402
from tests.e2e.billing_world import BillingCluster, invoice, staff_token  # noqa: E402


@dataclass
class Result:
    replicas: int
    payments: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    charges: int
    rows: int
    served: list[int]

    @property
    def rate(self) -> float:
        return self.payments / self.seconds


async def _measure(cluster: BillingCluster, customers: int, seconds: float, workers: int) -> Result:
    staff = staff_token(cluster.stack)
    payers = []
    async with httpx.AsyncClient(trust_env=False, timeout=30) as sandbox:
        for _ in range(customers):
            customer, session = cluster.portal_user()
            inv = invoice(
                cluster.stack, staff, customer.customer_id, "", ("Bench", 10**12), addr=cluster.billing_addrs[0]
            )
            token = (
                await sandbox.post(
                    f"{cluster.sandbox_url}/v1/tokens",
                    data={"number": "4242424242424242", "exp_month": 1, "exp_year": 2040},
                )
            ).json()["id"]
            headers = {"Authorization": f"Bearer {session}"}
            added = await sandbox.post(
                f"{cluster.gateway_url}/api/v1/payment-profiles", json={"processor_token": token}, headers=headers
            )
            added.raise_for_status()
            payers.append((inv.id, added.json()["profile"]["id"], headers))

    served_before = cluster.served("MakePayment")
    latencies: list[float] = []
    errors = 0
    counter = 0
    run = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=cluster.gateway_url, trust_env=False, timeout=30, limits=limits) as http:
        stop_at = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal errors, counter
            while time.monotonic() < stop_at:
                counter += 1
                n = counter
                invoice_id, profile_id, headers = payers[n % len(payers)]
                body = {
                    "payment_profile_id": profile_id,
                    "allocations": [{"invoice_id": invoice_id, "amount_minor": 100}],
                }
                start = time.perf_counter()
                try:
                    resp = await http.post(
                        "/api/v1/payments", json=body, headers={**headers, "Idempotency-Key": f"bench-{run}-{n:08d}"}
                    )
                except httpx.HTTPError:
                    errors += 1
                    continue
                if resp.status_code != 201 or resp.json()["payment"]["status"] != "succeeded":
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - start)

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.monotonic() - began

    async with httpx.AsyncClient(trust_env=False) as sandbox:
        charges = len((await sandbox.get(f"{cluster.sandbox_url}/v1/charges")).json()["data"])
    engine = create_async_engine(cluster.database_url)
    async with engine.connect() as conn:
        rows = int(
            await conn.scalar(
                text("SELECT count(*) FROM payments WHERE idempotency_key LIKE :p"), {"p": f"bench-{run}-%"}
            )
        )
    await engine.dispose()
    served = [after - before for after, before in zip(cluster.served("MakePayment"), served_before, strict=True)]
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else 0.0
    p50 = statistics.median(latencies) * 1000 if latencies else 0.0
    return Result(cluster.replicas, len(latencies), elapsed, p50, p99, errors, charges, rows, served)


def _run(replicas: int, root: Path, pg: EmbeddedPostgres, args: argparse.Namespace) -> Result:
    cluster = BillingCluster(
        root / f"replicas-{replicas}",
        pg.new_database(f"bench_billing_{replicas}"),
        replicas=replicas,
        billing_env={"BILLING_LOG_LEVEL": "WARNING"},
    )
    cluster.start()
    try:
        return asyncio.run(_measure(cluster, args.customers, args.seconds, args.concurrency))
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--customers", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-payments-"))
    pg = EmbeddedPostgres(root / "pg")
    try:
        results = [_run(n, root, pg, args) for n in (1, 2)]
    finally:
        pg.stop()
    print(
        f"POST /api/v1/payments through the gateway, {args.concurrency} concurrent, {args.seconds:g} s each, "
        "billing on PostgreSQL"
    )
    print(
        f"{'replicas':>8} {'payments/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'payments':>9} "
        f"{'charges':>8} {'rows':>6}  served by each replica"
    )
    for r in results:
        print(
            f"{r.replicas:>8} {r.rate:>11.1f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors:>7} {r.payments:>9} "
            f"{r.charges:>8} {r.rows:>6}  {' / '.join(map(str, r.served))}"
        )
    if results[0].rate:
        print(f"two replicas / one: {results[1].rate / results[0].rate:.2f}x")
    if any(r.errors or r.charges != r.payments or r.rows != r.payments for r in results):
        raise SystemExit("errors, or charges or payment rows that do not match the payments")


if __name__ == "__main__":
    main()
