"""How the billing pages write what processors send (issue 15: lower-case brand names capitalised)."""

from __future__ import annotations

import re

import pytest

from gateway_tests.conftest import Gateway
from portal.billing.v1 import billing_pb2

pytestmark = pytest.mark.asyncio


async def test_card_brands_are_written_as_people_write_them(gw: Gateway) -> None:
    """Issue 15: processors send "mastercard", "amex", "jcb"; the pages say Mastercard, American Express, JCB."""
    gw.world.payment_profiles.extend(
        billing_pb2.PaymentProfile(id=f"pp-{b}", kind="card", brand=b, last4="4444", exp_month=12, exp_year=2030)
        for b in ("mastercard", "amex", "jcb", "visa")
    )
    await gw.sign_in()
    r = await gw.client.get("/billing/payment-options")
    for label in ("Mastercard •••• 4444", "American Express •••• 4444", "JCB •••• 4444", "Visa •••• 4444"):
        assert label in r.text
    assert not re.search(r"\b(mastercard|amex|jcb|visa) ••••", r.text)


async def test_the_sandbox_test_cards_show_on_the_add_card_page_only_when_billing_lists_them(gw: Gateway) -> None:
    await gw.sign_in()
    real = await gw.client.get("/billing/payment-options")
    assert real.status_code == 200 and 'id="test-cards"' not in real.text
    gw.world.test_cards.extend(
        [
            billing_pb2.TestCard(number="4242424242424242", brand="visa"),
            billing_pb2.TestCard(number="4000000000009995", brand="visa", decline_code="insufficient_funds"),
        ]
    )
    r = await gw.client.get("/billing/payment-options")
    assert "Sandbox test cards" in r.text
    assert "<code>4242 4242 4242 4242</code> · Visa · succeeds" in r.text
    assert "<code>4000 0000 0000 9995</code> · Visa · declined: insufficient funds" in r.text
    fr = await gw.client.get("/billing/payment-options", headers={"Accept-Language": "fr"})
    assert "Cartes de test du bac à sable" in fr.text and "refusée : fonds insuffisants" in fr.text
