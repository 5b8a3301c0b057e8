"""The sandbox processor through billing's own adapter: state kept on disk across a restart, a charge found by its
idempotency key, refunds once per key and never more than the charge."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from billing.payments.http_processor import SandboxProcessor
from billing.payments.processor import RefundRefused
from billing.payments.sandbox import SandboxState, create_app


def adapter(state: SandboxState) -> SandboxProcessor:
    return SandboxProcessor("http://sandbox.test", transport=httpx.ASGITransport(app=create_app(state)))


async def test_tokens_and_charges_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "sandbox" / "state.db")
    first = SandboxState(path)
    token = first.tokenize("4242 4242 4242 4242", 12, 2031)["id"]
    proc = adapter(first)
    charge = await proc.charge(token=token, amount_minor=1_250, currency="USD", idempotency_key="k1", description="")
    await proc.close()

    proc = adapter(SandboxState(path))  # a new process on the same file
    details = await proc.describe_token(token)
    assert (details.brand, details.last4, details.exp_year) == ("visa", "4242", 2031)
    again = await proc.charge(token=token, amount_minor=1_250, currency="USD", idempotency_key="k1", description="")
    assert again.id == charge.id  # the same key is still the same charge after the restart
    found = await proc.find_charge("k1")
    assert found is not None and found.id == charge.id and found.succeeded
    await proc.close()


async def test_find_charge_by_key_and_refund_once_per_key() -> None:
    state = SandboxState()
    token = state.tokenize("4242424242424242", 1, 2030)["id"]
    proc = adapter(state)
    assert await proc.find_charge("portal-payment-unknown") is None
    assert await proc.find_charge("a/../b") is None  # quoted into one path segment, not a path
    charge = await proc.charge(token=token, amount_minor=10_000, currency="USD", idempotency_key="k", description="")

    first = await proc.refund(charge_id=charge.id, amount_minor=2_500, currency="USD", idempotency_key="r1")
    replay = await proc.refund(charge_id=charge.id, amount_minor=2_500, currency="USD", idempotency_key="r1")
    assert first == replay and first.amount_minor == 2_500
    await proc.refund(charge_id=charge.id, amount_minor=7_500, currency="USD", idempotency_key="r2")
    with pytest.raises(RefundRefused, match="more than what is left"):
        await proc.refund(charge_id=charge.id, amount_minor=1, currency="USD", idempotency_key="r3")
    with pytest.raises(RefundRefused, match="no such charge"):
        await proc.refund(charge_id="ch_nothing", amount_minor=1, currency="USD", idempotency_key="r4")
    assert state.charges["k"]["amount_refunded"] == 10_000
    await proc.close()


async def test_a_declined_charge_cannot_be_refunded() -> None:
    state = SandboxState()
    token = state.tokenize("4000000000000002", 1, 2030)["id"]
    proc = adapter(state)
    charge = await proc.charge(token=token, amount_minor=500, currency="USD", idempotency_key="k", description="")
    assert not charge.succeeded
    with pytest.raises(RefundRefused, match="only a succeeded charge"):
        await proc.refund(charge_id=charge.id, amount_minor=500, currency="USD", idempotency_key="r")
    await proc.close()
