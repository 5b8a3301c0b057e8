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
