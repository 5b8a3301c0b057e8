"""SPEC B5 "overpayment is refused or becomes store credit as configured", through the gateway.

The session's stack runs billing with the default (BILLING_OVERPAYMENT=refuse): paying more than a balance is a
400 problem+json and nothing is charged. A cluster of its own runs billing with BILLING_OVERPAYMENT=store_credit:
in the browser a customer pays more than an invoice's balance, the invoice is paid, the result says how much
became store credit (English and French), and the account overview shows that credit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.billing_world import BillingCluster, invoice, new_customer, staff_token
from tests.e2e.helpers import api, api_sign_in


@pytest.fixture(scope="module")
def credit_cluster(tmp_path_factory, postgres, billing_base) -> Iterator[BillingCluster]:  # noqa: ANN001
    running = BillingCluster(
        tmp_path_factory.mktemp("billing-overpayment"),
        postgres.new_database("billing_overpayment"),
        replicas=1,
        billing_env={"BILLING_OVERPAYMENT": "store_credit"},
        base=billing_base,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _stored_card(sandbox_url: str, gateway: httpx.Client) -> str:
    resp = httpx.post(
        f"{sandbox_url}/v1/tokens",
        data={"number": "4242424242424242", "exp_month": "12", "exp_year": "2031", "return_url": "http://portal/x"},
        trust_env=False,
    )
    token = parse_qs(urlsplit(resp.headers["location"]).query)["token"][0]
    added = gateway.post("/api/v1/payment-profiles", json={"processor_token": token, "nickname": "Office Visa"})
    assert added.status_code == 201, added.text
    return added.json()["profile"]["id"]


def test_by_default_an_overpayment_is_refused_with_a_problem_and_no_charge(stack):
    staff = staff_token(stack)
    customer = new_customer(stack, staff)
    inv = invoice(stack, staff, customer.customer_id, "2026-07-01", ("Laptop repair", 10_000))
    with api(stack, api_sign_in(stack, customer.login, customer.password)) as c:
        assert c.get("/api/v1/payments/proposal?amount_minor=1").json()["overpayment_becomes_credit"] is False
        token = httpx.post(
            c.get("/api/v1/payment-profiles").json()["tokenize_url"],
            data={"number": "4242424242424242", "exp_month": "12", "exp_year": "2031"},
            trust_env=False,
        ).json()["id"]
        profile = c.post("/api/v1/payment-profiles", json={"processor_token": token}).json()["profile"]["id"]
        body = {"payment_profile_id": profile, "allocations": [{"invoice_id": inv.id, "amount_minor": 10_001}]}
        refused = c.post("/api/v1/payments", json=body, headers={"Idempotency-Key": "overpay-refused-0000001"})
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "overpayment is refused" in refused.json()["detail"]
        assert c.get(f"/api/v1/invoices/{inv.id}").json()["invoice"]["balance_due"]["amount_minor"] == 10_000
        assert c.get("/api/v1/payments").json()["payments"] == []


async def test_with_store_credit_configured_the_excess_is_credited_and_the_portal_says_so(
    credit_cluster, page, tmp_path
):
    c = credit_cluster
    customer, session = c.portal_user()
    staff = staff_token(c.stack)
    inv = invoice(
        c.stack, staff, customer.customer_id, "2026-07-01", ("Laptop repair", 10_000), addr=c.billing_addrs[0]
    )
    with httpx.Client(
        base_url=c.gateway_url, headers={"Authorization": f"Bearer {session}"}, timeout=30, trust_env=False
    ) as gateway:
        _stored_card(c.sandbox_url, gateway)
    # The sandbox is shared with the other billing clusters (conftest's billing_base): this test's charges are the
    # ones made from here on.
    async with httpx.AsyncClient(trust_env=False) as http:
        before = {ch["id"] for ch in (await http.get(f"{c.sandbox_url}/v1/charges")).json()["data"]}

    await page.goto(c.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(customer.login)
    await page.get_by_label("Password").fill(customer.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r".*/$"))
    await page.goto(c.gateway_url + f"/billing/pay?invoice={inv.id}")
    assert "kept as store credit" in await page.locator("#overpay-hint").inner_text()
    await page.get_by_label(f"Amount to pay on {inv.number}").fill("125.00")
    await page.get_by_label(re.compile("Office Visa")).check()
    await page.get_by_role("button", name="Pay now").click()
    await page.wait_for_url(re.compile(r".*/billing\?done=paid&credited=2500&currency=USD$"))
    assert "$25.00 more than you owed was kept as store credit." in await page.content()
    assert await page.locator("#credit-balance").inner_text() == "$25.00"
    assert await page.locator("#invoice-balance").inner_text() == "$0.00"
    await page.screenshot(path=str(tmp_path / "overpaid.png"), full_page=True)
    recent = await page.locator("section[aria-labelledby=payments-heading] tbody").inner_text()
    assert "$125.00" in recent and "$25.00 kept as store credit" in recent and inv.number in recent

    result = page.url
    await page.goto(c.gateway_url + "/lang/fr?next=/billing")
    await page.goto(result)
    notice = await page.get_by_role("status").inner_text()
    assert "25,00\u00a0$US au-delà de ce que vous deviez a été gardé en crédit en magasin." in notice

    async with httpx.AsyncClient(trust_env=False) as http:
        charges = (await http.get(f"{c.sandbox_url}/v1/charges")).json()["data"]
    assert [ch["amount"] for ch in charges if ch["id"] not in before] == [12_500]
