"""Billing on Stripe through the gateway, against localstripe (the Stripe emulator, a real process): billing runs
with BILLING_PAYMENT_PROCESSOR=stripe and the gateway's POST /webhooks/stripe is registered with the emulator.

In the browser a customer adds a card with "Add a card at Stripe": the portal posts to its own route, billing
starts the setup and the browser is sent on. The emulator has no Checkout page, so billing starts a bare
SetupIntent (BILLING_STRIPE_CHECKOUT=false) whose return URL is the portal's; the test confirms it with a test
card the moment the browser is sent back — what Stripe's hosted page does before sending it back — and the
portal then reads the card from Stripe. The payment that follows is a PaymentIntent at the emulator, whose signed
webhook reaches the gateway and billing (already recorded: the payment's own call was first); a forged webhook is
a 400 problem+json.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from portal_testkit.localstripe import LocalStripe
from tests.e2e.billing_world import BillingCluster, invoice, staff_token

SECRET = "whsec_portal_e2e"  # noqa: S105 - the test endpoint's signing secret


@pytest.fixture(scope="module")
def stripe_cluster(tmp_path_factory, postgres, billing_base, localstripe: LocalStripe) -> Iterator[BillingCluster]:  # noqa: ANN001
    running = BillingCluster(
        tmp_path_factory.mktemp("billing-stripe"),
        postgres.new_database("billing_stripe"),
        replicas=1,
        billing_env={
            "BILLING_PAYMENT_PROCESSOR": "stripe",
            "BILLING_STRIPE_API_KEY": localstripe.api_key,
            "BILLING_STRIPE_API_URL": localstripe.url,
            "BILLING_STRIPE_CHECKOUT": "false",
            "BILLING_STRIPE_WEBHOOK_SECRET": SECRET,
        },
        base=billing_base,
    )
    running.start()
    try:
        localstripe.register_webhook("gateway-e2e", f"{running.gateway_url}/webhooks/stripe", SECRET)
        yield running
    finally:
        running.stop()


def _sign(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


async def _wait_for_log(path: Path, *needles: str, limit: float = 20) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for line in (await asyncio.to_thread(path.read_text, errors="replace")).splitlines():
            if all(n in line for n in needles):
                return line
        await asyncio.sleep(0.2)
    raise AssertionError(f"no log line with {needles} in {path}")


async def test_a_card_added_at_stripe_pays_an_invoice_and_the_webhook_is_checked(
    stripe_cluster, localstripe, page, tmp_path
):
    c = stripe_cluster
    customer, session = c.portal_user()
    inv = invoice(
        c.stack,
        staff_token(c.stack),
        customer.customer_id,
        "2026-07-01",
        ("Laptop repair", 12_345),
        addr=c.billing_addrs[0],
    )
    http = stripe.HTTPXClient()
    emulator = stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url}, http_client=http)
    confirmed: list[str] = []

    async def stripes_page(route) -> None:  # noqa: ANN001
        # The portal answers "go to Stripe" (here: straight back to the portal, the emulator having no page);
        # before the browser follows, the card holder enters the card "at Stripe".
        answer = await route.fetch(max_redirects=0)
        back = answer.headers["location"]
        assert back.startswith(c.gateway_url + "/billing/payment-options/added?state=")
        setup_id = parse_qs(urlsplit(back).query)["setup"][0]
        card = {"number": "4242424242424242", "exp_month": "11", "exp_year": "2031", "cvc": "123"}
        await emulator.v1.setup_intents.confirm_async(setup_id, {"payment_method_data": {"type": "card", "card": card}})
        confirmed.append(setup_id)
        await route.fulfill(response=answer)

    await page.route(re.compile(r".*/billing/payment-options/setup$"), stripes_page)
    await page.goto(c.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(customer.login)
    await page.get_by_label("Password").fill(customer.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r".*/$"))
    await page.goto(c.gateway_url + "/billing/payment-options")
    # No card field on the portal's page: the card is entered at Stripe.
    assert await page.locator("input[autocomplete=cc-number]").count() == 0
    for width in (390, 1280):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(tmp_path / f"options-stripe-{width}.png"), full_page=True)
    await page.get_by_role("button", name="Add a card at Stripe").click()
    await page.wait_for_url(re.compile(r".*/billing/payment-options\?done=added$"))
    assert len(confirmed) == 1 and confirmed[0].startswith("seti_")
    stored = await page.locator("section[aria-labelledby=stored-heading]").inner_text()
    assert "Visa •••• 4242" in stored and "11/2031" in stored
    await page.screenshot(path=str(tmp_path / "options-stripe-added.png"), full_page=True)
    # In French too.
    await page.goto(c.gateway_url + "/lang/fr?next=/billing/payment-options")
    await page.goto(c.gateway_url + "/billing/payment-options")
    assert await page.get_by_role("button", name="Ajouter une carte chez Stripe").count() == 1
    await page.screenshot(path=str(tmp_path / "options-stripe-fr.png"), full_page=True)
    await page.goto(c.gateway_url + f"/billing/pay?invoice={inv.id}")
    assert "ajoutez-le d’abord dans Informations de paiement" in await page.content()
    assert await page.locator("input[autocomplete=cc-number]").count() == 0
    await http.close_async()

    async with httpx.AsyncClient(
        base_url=c.gateway_url, headers={"Authorization": f"Bearer {session}"}, timeout=30, trust_env=False
    ) as gateway:
        (profile,) = (await gateway.get("/api/v1/payment-profiles")).json()["profiles"]
        body = {"payment_profile_id": profile["id"], "allocations": [{"invoice_id": inv.id, "amount_minor": 12_345}]}
        paid = await gateway.post("/api/v1/payments", json=body, headers={"Idempotency-Key": "stripe-e2e-pay-000001"})
        assert paid.status_code == 201, paid.text
        assert paid.json()["payment"]["status"] == "succeeded"
        invoice_now = (await gateway.get(f"/api/v1/invoices/{inv.id}")).json()["invoice"]
        assert invoice_now["balance_due"]["amount_minor"] == 0
    # localstripe signed and sent payment_intent.succeeded to the gateway, which handed it to billing: billing
    # checked the signature and found the payment recorded by its own call (or, on a slow machine, recorded it
    # first and the call found it done: once either way, as the balance above and the payment list say).
    line = await _wait_for_log(c.billing_logs[0], "processor event", "payment_intent.succeeded")
    assert '"outcome": "already_recorded"' in line or '"outcome": "recorded"' in line, line
    async with httpx.AsyncClient(
        base_url=c.gateway_url, headers={"Authorization": f"Bearer {session}"}, timeout=30, trust_env=False
    ) as gateway:
        (payment,) = (await gateway.get("/api/v1/payments")).json()["payments"]
        assert payment["status"] == "succeeded" and payment["amount"]["amount_minor"] == 12_345

    async with httpx.AsyncClient(base_url=c.gateway_url, timeout=15, trust_env=False) as anyone:
        event = json.dumps({"id": "evt_e2e", "object": "event", "type": "customer.created", "data": {"object": {}}})
        forged = await anyone.post(
            "/webhooks/stripe", content=event, headers={"Stripe-Signature": _sign(event.encode(), "whsec_other")}
        )
        assert forged.status_code == 400, forged.text
        assert forged.headers["content-type"].startswith("application/problem+json")
        assert SECRET not in forged.text
        unsigned = await anyone.post("/webhooks/stripe", content=event)
        assert unsigned.status_code == 400
        signed = await anyone.post(
            "/webhooks/stripe", content=event, headers={"Stripe-Signature": _sign(event.encode())}
        )
        assert signed.status_code == 200, signed.text
        assert signed.json() == {"event_id": "evt_e2e", "outcome": "ignored"}
