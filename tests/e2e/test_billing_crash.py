"""Issue 11's fault test: billing is killed with SIGKILL while charges are at the processor, and started again.

One `python -m billing` replica on PostgreSQL behind the gateway, charging through a shared sandbox processor
told to hold its answers. Four payments are charged at the processor but their answers never reach billing (the
processor answers late and billing is dead by then); two more reach the processor only after billing gave up on
them ("stall": the charge lands late, after the reconciler has voided its payment). After the restart:

- meanwhile the customer sees every payment in progress (API and /billing page) and cannot pay those balances
  again with a new key;
- within one reconciler pass once they are stale, the four charged payments are recorded (balances 0) and the
  two others voided (balances owed again, nothing taken);
- when the two late charges land, the reconciler refunds each in full, once.

So every charge the processor made ends recorded exactly once or refunded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.billing_world import BillingCluster
from tests.e2e.test_billing_exactly_once import Payer, _charges

STALE_AFTER = 15
INTERVAL = 1
STALL = 30  # seconds before a stalled charge lands: after billing's restart and the void


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres, billing_base) -> Iterator[BillingCluster]:  # noqa: ANN001
    running = BillingCluster(
        tmp_path_factory.mktemp("billing-crash"),
        postgres.new_database("billing_crash"),
        replicas=1,
        billing_env={
            "BILLING_PROCESSOR_TIMEOUT_SECONDS": "8",
            "BILLING_RECONCILE_AFTER_SECONDS": str(STALE_AFTER),
            "BILLING_RECONCILE_INTERVAL_SECONDS": str(INTERVAL),
            "BILLING_RECONCILE_RECHECK_SECONDS": "300",
        },
        base=billing_base,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def _rows(c: BillingCluster, customer_id: str) -> list[dict]:
    engine = create_async_engine(c.database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT p.id, p.status, p.charge_id, p.amount_minor, p.refunded_minor, p.created_at,"
                    " (SELECT count(*) FROM refunds r WHERE r.payment_id = p.id AND r.status = 'succeeded') AS refunds"
                    " FROM payments p WHERE p.customer_id = :c ORDER BY p.created_at"
                ),
                {"c": customer_id},
            )
            return [dict(r._mapping) for r in result]
    finally:
        await engine.dispose()


async def _behave(c: BillingCluster, **body: object) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        (await http.post(f"{c.sandbox_url}/v1/sandbox/behaviour", json=body)).raise_for_status()


async def _until(check, limit: float, what: str):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + limit
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {limit} s for {what}")
        await asyncio.sleep(0.25)


async def test_sigkill_while_charges_are_at_the_processor_ends_each_charge_recorded_once_or_refunded(cluster):
    payer = Payer(cluster, 1_100, 1_200, 1_300, 1_400, 2_100, 2_200)
    charged, stalled = payer.invoices[:4], payer.invoices[4:]
    amounts = dict(zip(payer.invoices, (1_100, 1_200, 1_300, 1_400, 2_100, 2_200), strict=True))
    customer = payer.customer.customer_id
    run = uuid.uuid4().hex[:8]
    try:
        await payer.add_card()
        before = {c["id"] for c in await _charges(cluster)}

        async def ours() -> list[dict]:
            return [c for c in await _charges(cluster) if c["id"] not in before]

        # Four payments the processor charges but answers only after billing is dead.
        await _behave(cluster, mode="timeout", times=4, delay=40)
        inflight = [
            asyncio.create_task(payer.pay(f"crash-{run}-{i}", inv, amounts[inv])) for i, inv in enumerate(charged)
        ]
        await _until(lambda: _n(ours, 4), 30, "four charges at the processor")
        # Two the processor gets to only after billing gave up on them.
        await _behave(cluster, mode="stall", times=2, delay=STALL)
        inflight += [
            asyncio.create_task(payer.pay(f"stall-{run}-{i}", inv, amounts[inv])) for i, inv in enumerate(stalled)
        ]
        await _until(lambda: _pending(cluster, customer, 6), 30, "six pending payments")
        await asyncio.sleep(0.5)  # the two stalled requests are at the processor

        cluster.kill_billing(0)
        answers = await asyncio.gather(*inflight)
        assert {r.status_code for r in answers} <= {502, 503, 504}, [r.text for r in answers]
        rows = await _rows(cluster, customer)
        assert [r["status"] for r in rows] == ["pending"] * 6
        assert len(await ours()) == 4

        cluster.restart_billing(0)

        # Meanwhile (the reconciler's bound, 15 s, has not passed) the customer sees the payments in progress and
        # cannot pay those balances again with a new key.
        pending = await _retry_503(lambda: payer.http.get("/api/v1/payments/pending"))
        assert [p["status"] for p in pending.json()["payments"]] == ["pending"] * 6, pending.text
        session = payer.http.headers["Authorization"].removeprefix("Bearer ")
        page = await payer.http.get("/billing", headers={"Authorization": "", "Cookie": f"portal_session={session}"})
        assert page.status_code == 200, page.status_code
        assert page.text.count('action="/billing/payments/') == 6 and "Payment in progress" in page.text
        assert "/billing/pay?invoice=" not in page.text  # no Pay now on an invoice a pending payment holds
        again = await payer.pay(f"again-{run}-{run}", charged[0], amounts[charged[0]])
        assert again.status_code == 409, again.text
        # Refused as in progress; or, on a loaded machine where billing's restart outlasted the reconciler's bound,
        # as already paid (the reconciler recorded the charge meanwhile): either way no second charge.
        detail = again.json()["detail"]
        assert "already in progress" in detail or "nothing left to pay" in detail, detail

        # One pass once they are stale: four recorded, two voided.
        await _until(lambda: _settled(cluster, customer), STALE_AFTER + 20, "the reconciler to settle all six")
        rows = {r["id"]: r for r in await _rows(cluster, customer)}
        settled_at = time.monotonic()
        statuses = sorted(r["status"] for r in rows.values())
        assert statuses == ["succeeded"] * 4 + ["voided"] * 2, statuses
        by_charge = {r["charge_id"]: r for r in rows.values() if r["status"] == "succeeded"}
        assert set(by_charge) == {c["id"] for c in await ours()}
        for inv in charged:
            assert await payer.balance(inv) == 0
        for inv in stalled:
            assert await payer.balance(inv) == amounts[inv]
        assert not (await payer.http.get("/api/v1/payments/pending")).json()["payments"]

        # The two stalled charges land late; each is refunded in full, once.
        await _until(lambda: _n(ours, 6), STALL + 30, "the two late charges")
        await _until(lambda: _refunded(cluster, customer, 2), 30, "the late charges' refunds")
        assert time.monotonic() - settled_at < STALL + 30
        late = [c for c in await ours() if c["id"] not in by_charge]
        assert len(late) == 2
        assert all(c["status"] == "succeeded" and c["amount_refunded"] == c["amount"] for c in late), late
        rows = await _rows(cluster, customer)
        voided = [r for r in rows if r["status"] == "voided"]
        assert {r["charge_id"] for r in voided} == {c["id"] for c in late}
        assert all(r["refunds"] == 1 and r["refunded_minor"] == r["amount_minor"] for r in voided), voided
        # Every charge the processor made: recorded by exactly one payment, or given back.
        for c in await ours():
            recorded = [r for r in rows if r["status"] == "succeeded" and r["charge_id"] == c["id"]]
            assert len(recorded) == 1 or c["amount_refunded"] == c["amount"], c
    finally:
        await _behave(cluster, mode="normal", times=0)
        await payer.http.aclose()


async def _n(ours, n: int) -> bool:  # noqa: ANN001
    return len(await ours()) >= n


async def _pending(c: BillingCluster, customer_id: str, n: int) -> bool:
    return sum(r["status"] == "pending" for r in await _rows(c, customer_id)) >= n


async def _settled(c: BillingCluster, customer_id: str) -> bool:
    rows = await _rows(c, customer_id)
    return bool(rows) and all(r["status"] != "pending" for r in rows)


async def _refunded(c: BillingCluster, customer_id: str, n: int) -> bool:
    return sum(r["refunds"] for r in await _rows(c, customer_id)) >= n


async def _retry_503(call) -> httpx.Response:  # noqa: ANN001
    """The gateway's channel reconnects to the restarted replica with a backoff: retry while it answers 503."""
    for _ in range(40):
        resp = await call()
        if resp.status_code != 503:
            return resp
        await asyncio.sleep(0.25)
    return resp
