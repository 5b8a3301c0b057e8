"""Issue 11, input at the boundary: a processor token is checked against the processor's format before billing
calls the processor (a control character or a path segment used to give a 502 or let the client choose the path
billing called), and amounts are bounded (2^63 used to give a 500). Each is a 400 problem+json with a `detail`
that says what is wrong — through the JSON API and the pay form — and nothing is charged."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.billing_world import invoice, new_customer, staff_token
from tests.e2e.helpers import api, api_sign_in

BAD_TOKENS = {
    "control-character": "tok_\x01" + "0" * 23,
    "path-segments": "zz/../tok_" + "0" * 24,
    "encoded-path": "tok_%2e%2e%2fv1%2fcharges",
    "query": "tok_" + "0" * 24 + "?x=1",
    "other-processor": "pm_1234567890",
    "too-long": "tok_" + "0" * 90,
}
HUGE = {"just-over-the-bound": 10**12 + 1, "2^63": 2**63, "2^64": 2**64, "2^63-1": 2**63 - 1}


@pytest.fixture(scope="module")
def payer(stack):  # noqa: ANN001, ANN201
    staff = staff_token(stack)
    customer = new_customer(stack, staff)
    inv = invoice(stack, staff, customer.customer_id, "2026-07-01", ("Network audit", 10_000))
    with api(stack, api_sign_in(stack, customer.login, customer.password)) as client:
        yield client, inv.id


def _is_problem(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 400, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")
    detail = r.json()["detail"]
    for word in words:
        assert word in detail, detail


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_malformed_processor_token_is_a_400_naming_the_field_and_never_reaches_the_processor(payer, token):
    client, invoice_id = payer
    added = client.post("/api/v1/payment-profiles", json={"processor_token": token})
    _is_problem(added, "processor_token")
    paid = client.post(
        "/api/v1/payments",
        json={"processor_token": token, "allocations": [{"invoice_id": invoice_id, "amount_minor": 100}]},
        headers={"Idempotency-Key": f"bad-token-{abs(hash(token)) % 10**12:012d}"},
    )
    _is_problem(paid, "processor_token")
    assert client.get("/api/v1/payment-profiles").json().get("profiles", []) == []
    assert client.get("/api/v1/payments").json()["payments"] == []


def test_the_detail_says_what_a_token_looks_like_without_echoing_the_clients_bytes(payer):
    client, _ = payer
    r = client.post("/api/v1/payment-profiles", json={"processor_token": "zz/../tok_secret-marker"})
    _is_problem(r, "tok_")
    assert "secret-marker" not in r.text


@pytest.mark.parametrize("amount", HUGE.values(), ids=HUGE.keys())
def test_an_amount_beyond_the_bound_is_a_400_never_a_500(payer, amount):
    client, invoice_id = payer
    _is_problem(client.get("/api/v1/payments/proposal", params={"amount_minor": str(amount)}), "amount_minor")
    paid = client.post(
        "/api/v1/payments",
        json={"use_store_credit": True, "allocations": [{"invoice_id": invoice_id, "amount_minor": amount}]},
        headers={"Idempotency-Key": f"huge-amount-{amount % 10**12:012d}"},
    )
    _is_problem(paid, "amount_minor")
    assert client.get(f"/api/v1/invoices/{invoice_id}").json()["invoice"]["balance_due"]["amount_minor"] == 10_000


def test_the_pay_form_answers_a_huge_amount_with_a_form_message(stack):
    staff = staff_token(stack)
    customer = new_customer(stack, staff)
    inv = invoice(stack, staff, customer.customer_id, "2026-07-02", ("Cabling", 5_000))
    # The portal's session cookie, as the browser holds it after signing in (the sign-in page is tested elsewhere).
    cookie = {"Cookie": f"portal_session={api_sign_in(stack, customer.login, customer.password)}"}
    with httpx.Client(base_url=stack.gateway_url, headers=cookie, trust_env=False, follow_redirects=False) as browser:
        for typed in ("99999999999999999999", "92233720368547758.08", "10000000000.01"):
            shown = browser.get("/billing/pay", params={"amount": typed})
            assert shown.status_code == 200 and 'aria-invalid="true"' in shown.text, shown.status_code
            page = browser.get("/billing/pay")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
            form = {"csrf_token": csrf, "idempotency_key": key, f"amount_{inv.id}": typed, "profile_id": "store-credit"}
            posted = browser.post("/billing/pay", data=form)
            assert posted.status_code == 400, posted.status_code
            assert 'aria-invalid="true"' in posted.text


def test_the_card_forms_send_the_processor_no_token_of_the_session(stack):
    """The return URL handed to the processor carries a `state` of its own per form, never the session's CSRF
    token (which would let anyone who reads the processor's logs forge the portal's forms); the form token is not
    accepted as `state` either."""
    staff = staff_token(stack)
    customer = new_customer(stack, staff)
    invoice(stack, staff, customer.customer_id, "2026-07-03", ("Backup check", 2_000))  # the pay page needs one
    session = api_sign_in(stack, customer.login, customer.password)
    with httpx.Client(
        base_url=stack.gateway_url,
        headers={"Cookie": f"portal_session={session}"},
        trust_env=False,
        follow_redirects=False,
    ) as browser:
        for path in ("/billing/pay", "/billing/payment-options"):
            shown = browser.get(path)
            assert shown.status_code == 200, (path, shown.status_code, shown.text[:300])
            page = shown.text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            returns = re.findall(r'name="return_url" value="([^"]+)"', page)
            assert returns and all("state=" in r and csrf not in r for r in returns), returns
        back_with_form_token = {"token": "tok_" + "0" * 24, "state": csrf}
        assert browser.get("/billing/payment-options/added", params=back_with_form_token).status_code == 403
        assert browser.get("/billing/pay", params=back_with_form_token).status_code == 403
