"""Approving or declining an estimate asks for confirmation first (a form, no JavaScript needed) and takes an
optional reason (issue 15)."""

from __future__ import annotations

import pytest

from gateway_tests.conftest import Gateway, csrf_from

pytestmark = pytest.mark.asyncio


async def test_the_estimate_page_asks_before_deciding_and_sends_the_reason(gw: Gateway) -> None:
    await gw.sign_in()
    page = await gw.client.get("/billing/estimates/est-1")
    assert 'method="get" action="/billing/estimates/est-1/decision"' in page.text
    confirm = await gw.client.get("/billing/estimates/est-1/decision?decision=decline")
    assert confirm.status_code == 200
    assert "Decline estimate EST-0007?" in confirm.text and "Yes, decline" in confirm.text
    assert 'name="reason"' in confirm.text and "Reason (optional)" in confirm.text
    assert gw.world.calls.get("DecideEstimate", 0) == 0  # asking decides nothing
    token = csrf_from(confirm.text)
    too_long = {"csrf_token": token, "decision": "decline", "reason": "x" * 501}
    r = await gw.client.post("/billing/estimates/est-1/decision", data=too_long)
    assert r.status_code == 400 and "at most 500 characters" in r.text and gw.world.estimates["est-1"].status == "open"
    why = "Too expensive <b>this</b> quarter"
    data = {"csrf_token": token, "decision": "decline", "reason": f"  {why}  "}
    r = await gw.client.post("/billing/estimates/est-1/decision", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/billing/estimates/est-1?done=declined"
    est = gw.world.estimates["est-1"]
    assert (est.status, est.decision_reason) == ("declined", why)
    # Decided: the confirmation page is no longer offered.
    again = await gw.client.get("/billing/estimates/est-1/decision?decision=approve")
    assert again.status_code == 303 and again.headers["location"] == "/billing/estimates/est-1"


async def test_the_confirmation_speaks_french_and_refuses_an_unknown_decision(gw: Gateway) -> None:
    await gw.sign_in(headers={"Accept-Language": "fr"})
    r = await gw.client.get("/billing/estimates/est-1/decision?decision=approve", headers={"Accept-Language": "fr"})
    assert "Approuver le devis EST-0007 ?" in r.text and "Oui, approuver" in r.text and "Motif (facultatif)" in r.text
    r = await gw.client.get("/billing/estimates/est-1/decision?decision=<script>")
    assert r.status_code == 303 and "<script>" not in r.text
    assert (await gw.client.get("/billing/estimates/est-9/decision?decision=approve")).status_code == 404
    assert (await gw.client.get("/billing/estimates/est-9/decision")).status_code == 404
    assert gw.world.calls.get("DecideEstimate", 0) == 0


async def test_the_api_takes_the_optional_reason(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {await gw.api_token()}"}
    url = "/api/v1/estimates/est-1/decision"
    r = await gw.client.post(url, json={"decision": "approve", "reason": "x" * 501}, headers=auth)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert gw.world.estimates["est-1"].status == "open"
    r = await gw.client.post(url, json={"decision": "approve", "reason": "Go ahead"}, headers=auth)
    assert r.status_code == 200 and r.json()["estimate"]["decision_reason"] == "Go ahead"
