"""Issue 5 (SPEC S2, B8, B9, B10): the staff JSON API for billing, over HTTP through the gateway to billing,
identity and tickets as real processes. Staff set a customer's tax rate and terms in its identity settings (C3),
which reach billing by event (the billing-settings route only reads them), invoice it (optionally for one of its
tickets), make and send an estimate and add store credit; the customer's portal user sees each through the
portal API, another customer's does not. Idempotency keys make one record; bad input is a 4xx problem+json."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest

from servicekit import permissions as perm
from tests.e2e.helpers import BLUE, api, api_sign_in

PROBLEM = "application/problem+json"
LINES = [
    {"description": "Labour", "quantity": "1.5", "unit_price_minor": 8_000},
    {"description": "Router", "quantity": "1", "unit_price_minor": 4_999},
    {"description": "Cable offcut", "quantity": "0.333", "unit_price_minor": 1_000},
]


def key() -> str:
    return secrets.token_hex(12)


def staff_token(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


@dataclass(frozen=True)
class Customer:
    id: str
    login: str
    password: str
    token: str


def new_customer(stack, staff: str, name: str) -> Customer:  # noqa: ANN001
    """A customer of its own (so its tax and terms touch no other test) with an admin portal user, signed in."""
    suffix = secrets.token_hex(4)
    login, password = f"billing-{suffix}@{name.lower()}.test", f"pass-{secrets.token_hex(8)}"
    with api(stack, staff) as c:
        r = c.post("/api/v1/staff/customers", json={"business_name": f"{name} {suffix}", "email": login})
        assert r.status_code == 201, r.text
        customer_id = r.json()["id"]
        r = c.post(
            f"/api/v1/staff/customers/{customer_id}/portal-users",
            json={"email": login, "password": password, "group_name": perm.ADMIN_PORTAL_GROUP},
        )
        assert r.status_code == 201, r.text
    return Customer(customer_id, login, password, api_sign_in(stack, login, password))


@pytest.fixture(scope="module")
def staff(stack) -> str:  # noqa: ANN001
    return staff_token(stack)


@pytest.fixture(scope="module")
def customer(stack, staff) -> Customer:  # noqa: ANN001
    return new_customer(stack, staff, "Ledger")


def set_tax_and_terms(c, customer_id: str, **settings: object) -> None:  # noqa: ANN001
    """Staff change the customer's settings in identity (its record as it is, but these settings), then wait until
    billing's copy shows them: identity's customer_updated event carries them across."""
    record = c.get(f"/api/v1/staff/customers/{customer_id}").json()
    body = {k: record[k] for k in ("business_name", "first_name", "last_name", "email", "notes", "parent_id")}
    new = body["settings"] = {**record["settings"], **settings}
    r = c.put(f"/api/v1/staff/customers/{customer_id}", json=body)
    assert r.status_code == 200, r.text
    expected = {
        "customer_id": customer_id,
        "tax_rate_bp": new["tax_rate_bp"] or 0,
        "tax_free": new["tax_free"],
        "terms_days": 30 if new["invoice_terms_days"] is None else new["invoice_terms_days"],
        "configured": True,
    }
    deadline = time.monotonic() + 10
    while (seen := c.get(f"/api/v1/staff/customers/{customer_id}/billing-settings").json()) != expected:
        assert time.monotonic() < deadline, f"billing never applied identity's settings: {seen} != {expected}"
        time.sleep(0.1)


def assert_problem(r, status: int, *words: str) -> dict:  # noqa: ANN001
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    for word in words:
        assert word in body["detail"], body
    return body


def test_tax_terms_and_an_invoice_in_integer_minor_units_seen_by_its_customer_only(stack, staff, customer):  # noqa: ANN001
    with api(stack, staff) as c:
        r = c.get(f"/api/v1/staff/customers/{customer.id}/billing-settings")
        assert r.status_code == 200 and (r.json()["tax_rate_bp"], r.json()["terms_days"]) == (0, 30), "the defaults"
        # Set in one place, identity's customer settings; billing has no way to set them itself.
        set_tax_and_terms(c, customer.id, tax_rate_bp=825, invoice_terms_days=14)
        put = c.put(f"/api/v1/staff/customers/{customer.id}/billing-settings", json={"tax_rate_bp": 0})
        assert_problem(put, 405)

        r = c.post(
            "/api/v1/staff/invoices",
            json={"customer_id": customer.id, "lines": LINES},
            headers={"Idempotency-Key": key()},
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["replayed"] is False
        invoice = created["invoice"]
        assert r.headers["location"] == f"/api/v1/staff/invoices/{invoice['id']}"
        # 1.5 × 80.00 + 1 × 49.99 + 0.333 × 10.00 (3.33) = 173.32; 8.25 % of it is 14.2989 → 14.30; 187.62 in all.
        assert invoice["subtotal"] == {"amount_minor": 17_332, "currency": "USD"}
        assert invoice["tax_rate_bp"] == 825 and invoice["tax"]["amount_minor"] == 1_430
        assert invoice["total"]["amount_minor"] == 18_762 and invoice["balance_due"]["amount_minor"] == 18_762
        issued = date.fromisoformat(invoice["issued_on"])
        assert date.fromisoformat(invoice["due_on"]) == issued + timedelta(days=14)
        assert invoice["status"] == "open" and invoice["customer_id"] == customer.id

        detail = c.get(f"/api/v1/staff/invoices/{invoice['id']}").json()
        assert [(ln["description"], ln["quantity"], ln["amount"]["amount_minor"]) for ln in detail["lines"]] == [
            ("Labour", "1.5", 12_000),
            ("Router", "1", 4_999),
            ("Cable offcut", "0.333", 333),
        ]
        listed = c.get("/api/v1/staff/invoices", params={"customer_id": customer.id}).json()
        assert [i["id"] for i in listed["items"]] == [invoice["id"]]
        assert c.get("/api/v1/staff/invoices", params={"customer_id": customer.id, "q": "router"}).json()["items"]
        assert not c.get("/api/v1/staff/invoices", params={"customer_id": customer.id, "q": "nothing"}).json()["items"]

        # Tax-free: the rate stays but no tax is charged; terms_days on the invoice beats the customer's.
        set_tax_and_terms(c, customer.id, tax_rate_bp=825, tax_free=True, invoice_terms_days=14)
        r = c.post(
            "/api/v1/staff/invoices",
            json={"customer_id": customer.id, "lines": LINES[:1], "terms_days": 0, "issued_on": "2026-03-01"},
            headers={"Idempotency-Key": key()},
        )
        free = r.json()["invoice"]
        assert (free["tax"]["amount_minor"], free["tax_rate_bp"], free["total"]["amount_minor"]) == (0, 0, 12_000)
        assert (free["issued_on"], free["due_on"]) == ("2026-03-01", "2026-03-01")
        set_tax_and_terms(c, customer.id, tax_free=False)

    with api(stack, customer.token) as c:
        mine = c.get("/api/v1/invoices").json()["invoices"]
        assert {i["number"] for i in mine} == {invoice["number"], free["number"]}
        seen = c.get(f"/api/v1/invoices/{invoice['id']}").json()["invoice"]
        assert seen["total"]["amount_minor"] == 18_762 and seen["due_on"] == invoice["due_on"]
    with api(stack, api_sign_in(stack, BLUE.login, BLUE.password)) as c:
        assert invoice["number"] not in {i["number"] for i in c.get("/api/v1/invoices").json()["invoices"]}
        assert c.get(f"/api/v1/invoices/{invoice['id']}").status_code == 404


def test_a_replayed_idempotency_key_makes_one_invoice(stack, staff, customer):  # noqa: ANN001
    body = {"customer_id": customer.id, "lines": [{"description": "Retainer", "unit_price_minor": 50_000}]}
    same = key()
    with api(stack, staff) as c:
        before = len(c.get("/api/v1/staff/invoices", params={"customer_id": customer.id}).json()["items"])
        first = c.post("/api/v1/staff/invoices", json=body, headers={"Idempotency-Key": same})
        again = c.post("/api/v1/staff/invoices", json=body, headers={"Idempotency-Key": same})
        assert (first.status_code, again.status_code) == (201, 200), again.text
        assert again.json()["replayed"] is True and again.json()["invoice"] == first.json()["invoice"]
        after = c.get("/api/v1/staff/invoices", params={"customer_id": customer.id}).json()["items"]
        assert len(after) == before + 1
        other = c.post("/api/v1/staff/invoices", json={**body, "lines": LINES}, headers={"Idempotency-Key": same})
        assert_problem(other, 409, "idempotency key")


def test_an_invoice_for_a_ticket_marks_the_ticket_invoiced_and_another_customers_ticket_is_refused(
    stack, staff, customer
):  # noqa: ANN001
    with api(stack, staff) as c:
        r = c.post(
            "/api/v1/staff/tickets",
            json={"customer_id": customer.id, "subject": "Printer jam", "description": "Tray 2"},
        )
        assert r.status_code == 201, r.text
        ticket = r.json()["ticket"]
        other = new_customer(stack, staff, "Other")
        r = c.post(
            "/api/v1/staff/tickets", json={"customer_id": other.id, "subject": "Theirs", "description": "Not yours"}
        )
        theirs = r.json()["ticket"]
        refused = c.post(
            "/api/v1/staff/invoices",
            json={"customer_id": customer.id, "ticket_id": theirs["id"], "lines": LINES},
            headers={"Idempotency-Key": key()},
        )
        assert_problem(refused, 400, "ticket_id")
        r = c.post(
            "/api/v1/staff/invoices",
            json={"customer_id": customer.id, "ticket_id": ticket["id"], "lines": LINES},
            headers={"Idempotency-Key": key()},
        )
        assert r.status_code == 201, r.text
        invoice = r.json()["invoice"]
        assert invoice["ticket_id"] == ticket["id"]
    with api(stack, customer.token) as c:
        deadline = time.monotonic() + 20
        while (seen := c.get(f"/api/v1/tickets/{ticket['id']}").json())["invoice_number"] != invoice["number"]:
            assert time.monotonic() < deadline, f"the ticket was never marked invoiced: {seen}"
            time.sleep(0.25)


def test_staff_make_and_send_an_estimate_and_the_customer_approves_it(stack, staff, customer):  # noqa: ANN001
    body = {"customer_id": customer.id, "name": "New firewall", "lines": LINES[:2]}
    same = key()
    with api(stack, staff) as c:
        r = c.post("/api/v1/staff/estimates", json=body, headers={"Idempotency-Key": same})
        assert r.status_code == 201, r.text
        estimate = r.json()["estimate"]
        assert estimate["status"] == "open" and estimate["sent_on"] and estimate["total"]["amount_minor"] == 16_999
        again = c.post("/api/v1/staff/estimates", json=body, headers={"Idempotency-Key": same})
        assert again.status_code == 200 and again.json()["estimate"]["id"] == estimate["id"]
        listed = c.get("/api/v1/staff/estimates", params={"customer_id": customer.id}).json()["items"]
        assert [e["id"] for e in listed] == [estimate["id"]]
    with api(stack, customer.token) as c:
        mine = c.get("/api/v1/estimates").json()["estimates"]
        assert [e["id"] for e in mine] == [estimate["id"]]
        r = c.post(f"/api/v1/estimates/{estimate['id']}/decision", json={"decision": "approve"})
        assert r.status_code == 200 and r.json()["estimate"]["status"] == "approved"
    with api(stack, staff) as c:
        got = c.get(f"/api/v1/staff/estimates/{estimate['id']}").json()
        assert got["estimate"]["status"] == "approved" and got["estimate"]["decided_at"]
        assert [ln["description"] for ln in got["lines"]] == ["Labour", "Router"]
        approved = c.get("/api/v1/staff/estimates", params={"customer_id": customer.id, "status": "approved"})
        assert [e["id"] for e in approved.json()["items"]] == [estimate["id"]]
    with api(stack, api_sign_in(stack, BLUE.login, BLUE.password)) as c:
        assert c.get(f"/api/v1/estimates/{estimate['id']}").status_code == 404


def test_store_credit_shows_in_the_customers_overview_once_per_key(stack, staff):  # noqa: ANN001
    fresh = new_customer(stack, staff, "Credit")
    body = {"amount_minor": 2_500, "reference": "RMA-42", "message": "Returned router"}
    same = key()
    with api(stack, staff) as c:
        first = c.post(f"/api/v1/staff/customers/{fresh.id}/store-credit", json=body, headers={"Idempotency-Key": same})
        assert first.status_code == 201, first.text
        assert first.json()["credit_balance"] == {"amount_minor": 2_500, "currency": "USD"}
        again = c.post(f"/api/v1/staff/customers/{fresh.id}/store-credit", json=body, headers={"Idempotency-Key": same})
        assert again.status_code == 200 and again.json()["replayed"] is True
        assert again.json()["entry_id"] == first.json()["entry_id"]
        assert again.json()["credit_balance"]["amount_minor"] == 2_500
    with api(stack, fresh.token) as c:
        assert c.get("/api/v1/billing/overview").json()["credit_balance"]["amount_minor"] == 2_500


def test_bad_input_is_a_4xx_problem_with_a_useful_detail(stack, staff, customer):  # noqa: ANN001
    good = {"customer_id": customer.id, "lines": LINES}
    invoices = "/api/v1/staff/invoices"
    credit = f"/api/v1/staff/customers/{customer.id}/store-credit"
    with api(stack, staff) as c:
        assert_problem(c.post(invoices, json={**good, "lines": []}, headers={"Idempotency-Key": key()}), 400, "lines")
        assert_problem(c.post(invoices, json=good), 400, "Idempotency-Key")
        assert_problem(c.post(invoices, json=good, headers={"Idempotency-Key": "short"}), 400, "Idempotency-Key")
        bad_line = {**good, "lines": [{"description": "x", "unit_price_minor": -1}]}
        assert_problem(c.post(invoices, json=bad_line, headers={"Idempotency-Key": key()}), 400, "unit_price_minor")
        bad_qty = {**good, "lines": [{"description": "x", "quantity": "1.2345", "unit_price_minor": 1}]}
        assert_problem(c.post(invoices, json=bad_qty, headers={"Idempotency-Key": key()}), 400, "quantity")
        assert_problem(
            c.post(invoices, json={**good, "customer_id": "no-such-customer"}, headers={"Idempotency-Key": key()}),
            400,
            "customer_id",
            "no such customer",
        )
        assert_problem(
            c.post(invoices, json={**good, "contact_id": "no-such-contact"}, headers={"Idempotency-Key": key()}),
            400,
            "contact_id",
        )
        assert_problem(
            c.post(invoices, json={**good, "ticket_id": "no-such-ticket"}, headers={"Idempotency-Key": key()}),
            400,
            "ticket_id",
        )
        assert_problem(c.post(invoices, json={**good, "currency": "DOLLARS"}, headers={"Idempotency-Key": key()}), 400)
        assert_problem(c.get(f"{invoices}/no-such-invoice"), 404)
        assert_problem(c.get("/api/v1/staff/customers/no-such-customer/billing-settings"), 404, "no such customer")
        for amount in (-500, 0):
            body = {"amount_minor": amount, "reference": "R"}
            assert_problem(c.post(credit, json=body, headers={"Idempotency-Key": key()}), 400, "amount_minor")
        assert_problem(
            c.post(credit, json={"amount_minor": 5, "reference": ""}, headers={"Idempotency-Key": key()}),
            400,
            "reference",
        )
        assert_problem(c.post(credit, json={"amount_minor": 5, "reference": "R"}), 400, "Idempotency-Key")
        assert_problem(
            c.post(
                "/api/v1/staff/customers/no-such-customer/store-credit",
                json={"amount_minor": 5, "reference": "R"},
                headers={"Idempotency-Key": key()},
            ),
            404,
        )
        estimates = "/api/v1/staff/estimates"
        no_name = {"customer_id": customer.id, "name": " ", "lines": LINES}
        assert_problem(c.post(estimates, json=no_name, headers={"Idempotency-Key": key()}), 400, "name")
        no_lines = {"customer_id": customer.id, "name": "Quote", "lines": []}
        assert_problem(c.post(estimates, json=no_lines, headers={"Idempotency-Key": key()}), 400, "lines")
        assert_problem(c.get(estimates, params={"status": "lost"}), 400, "status")
        assert_problem(c.get(invoices, params={"cursor": "not-a-cursor"}), 400, "cursor")


def test_portal_users_and_anonymous_callers_never_reach_the_staff_billing_api(stack, customer):  # noqa: ANN001
    cid = customer.id
    calls = [
        ("GET", f"/api/v1/staff/customers/{cid}/billing-settings", None),
        ("POST", "/api/v1/staff/invoices", {"customer_id": cid, "lines": LINES}),
        ("GET", f"/api/v1/staff/invoices?customer_id={cid}", None),
        ("GET", "/api/v1/staff/invoices/anything", None),
        ("POST", "/api/v1/staff/estimates", {"customer_id": cid, "name": "Mine now", "lines": LINES}),
        ("GET", "/api/v1/staff/estimates", None),
        ("GET", "/api/v1/staff/estimates/anything", None),
        ("POST", f"/api/v1/staff/customers/{cid}/store-credit", {"amount_minor": 100_000, "reference": "free"}),
        ("GET", f"/api/v1/staff/customers/{cid}/store-credit", None),
        ("PUT", "/api/v1/staff/invoices/anything", {"lines": LINES}),
        ("POST", "/api/v1/staff/invoices/anything/send", None),
        ("POST", "/api/v1/staff/invoices/anything/void", None),
        ("POST", "/api/v1/staff/estimates/anything/send", None),
        ("GET", f"/api/v1/staff/customers/{cid}/payments", None),
        ("POST", f"/api/v1/staff/customers/{cid}/payments", {"method": "cash", "amount_minor": 100}),
        ("POST", "/api/v1/staff/payments/anything/refunds", {"amount_minor": 100}),
    ]
    # An admin portal user of this very customer (every permission), then no session at all.
    for token, expected in ((customer.token, 403), (None, 401)):
        with api(stack, token) as c:
            for method, path, body in calls:
                r = c.request(method, path, json=body, headers={"Idempotency-Key": key()})
                assert r.status_code == expected, f"{method} {path}: {r.status_code} {r.text}"
                assert r.headers["content-type"].startswith(PROBLEM)
    with api(stack, customer.token) as c:
        assert c.get("/api/v1/billing/overview").json()["credit_balance"]["amount_minor"] == 0


def test_a_draft_is_edited_sent_paid_partly_refunded_and_an_unpaid_invoice_voided(stack, staff):  # noqa: ANN001
    """Issue 11: the staff side of an invoice's life through the API, and what the customer sees of each step."""
    payer = new_customer(stack, staff, "Refund")
    with api(stack, staff) as c, api(stack, payer.token) as portal:
        r = c.post(
            "/api/v1/staff/invoices",
            json={"customer_id": payer.id, "lines": LINES[:1], "draft": True},
            headers={"Idempotency-Key": key()},
        )
        assert r.status_code == 201, r.text
        draft = r.json()["invoice"]
        assert (draft["status"], draft["number"], draft["sent_on"]) == ("draft", "", None)
        assert portal.get(f"/api/v1/invoices/{draft['id']}").status_code == 404
        assert portal.get("/api/v1/invoices").json()["invoices"] == []

        r = c.put(f"/api/v1/staff/invoices/{draft['id']}", json={"lines": [LINES[0], LINES[1]], "terms_days": 7})
        assert r.status_code == 200, r.text
        assert r.json()["invoice"]["total"]["amount_minor"] == 12_000 + 4_999
        sent = c.post(f"/api/v1/staff/invoices/{draft['id']}/send", headers={"Idempotency-Key": key()})
        assert sent.status_code == 200, sent.text
        inv = sent.json()["invoice"]
        assert inv["status"] == "open" and inv["number"].startswith("INV-")
        assert inv["due_on"] == (date.fromisoformat(inv["issued_on"]) + timedelta(days=7)).isoformat()
        assert_problem(c.put(f"/api/v1/staff/invoices/{draft['id']}", json={"lines": LINES}), 409, "draft")
        assert_problem(c.post(f"/api/v1/staff/invoices/{draft['id']}/send"), 400, "Idempotency-Key")

        # The customer pays 169.99 with a card; staff refund 50.00 of it, once per key.
        token = httpx.post(
            portal.get("/api/v1/payment-profiles").json()["tokenize_url"],
            data={"number": "4242424242424242", "exp_month": "12", "exp_year": "2031"},
            trust_env=False,
        ).json()["id"]
        card = portal.post("/api/v1/payment-profiles", json={"processor_token": token})
        assert card.status_code == 201, card.text
        paid = portal.post(
            "/api/v1/payments",
            json={
                "allocations": [{"invoice_id": inv["id"], "amount_minor": 16_999}],
                "payment_profile_id": card.json()["profile"]["id"],
            },
            headers={"Idempotency-Key": key()},
        )
        assert paid.status_code == 201, paid.text
        payment_id = paid.json()["payment"]["id"]
        refund_key = {"Idempotency-Key": key()}
        body = {"amount_minor": 5_000, "reason": "One router returned"}
        first = c.post(f"/api/v1/staff/payments/{payment_id}/refunds", json=body, headers=refund_key)
        again = c.post(f"/api/v1/staff/payments/{payment_id}/refunds", json=body, headers=refund_key)
        assert first.status_code == 201, first.text
        assert again.status_code == 200 and again.json()["replayed"] is True
        assert first.json()["refund"]["status"] == "succeeded"
        assert first.json()["payment"]["refunded"]["amount_minor"] == 5_000
        assert first.json()["payment"]["refundable_amount"]["amount_minor"] == 11_999
        too_much = c.post(
            f"/api/v1/staff/payments/{payment_id}/refunds",
            json={"amount_minor": 12_000},
            headers={"Idempotency-Key": key()},
        )
        assert_problem(too_much, 400, "119.99 USD")
        listed = c.get(f"/api/v1/staff/customers/{payer.id}/payments").json()["items"]
        assert [(p["id"], p["refunded"]["amount_minor"]) for p in listed] == [(payment_id, 5_000)]
        # The invoice stays paid; the customer's payment shows the refund.
        assert portal.get(f"/api/v1/invoices/{inv['id']}").json()["invoice"]["status"] == "paid"
        mine = portal.get("/api/v1/payments").json()["payments"]
        assert mine[0]["refunded"]["amount_minor"] == 5_000
        assert_problem(c.post(f"/api/v1/staff/invoices/{inv['id']}/void", headers={"Idempotency-Key": key()}), 409)

        # Another invoice, paid in part by check, the rest voided is refused; an untouched one is voided.
        other = c.post(
            "/api/v1/staff/invoices",
            json={"customer_id": payer.id, "lines": LINES[1:2]},
            headers={"Idempotency-Key": key()},
        ).json()["invoice"]
        check = {"method": "check", "reference": "1042", "amount_minor": 1_000}
        recorded = c.post(
            f"/api/v1/staff/customers/{payer.id}/payments", json=check, headers={"Idempotency-Key": key()}
        )
        assert recorded.status_code == 201, recorded.text
        assert recorded.json()["payment"]["method"] == "Check 1042"
        assert recorded.json()["payment"]["refundable"] is False
        cash_refund = c.post(
            f"/api/v1/staff/payments/{recorded.json()['payment']['id']}/refunds",
            json={"amount_minor": 100},
            headers={"Idempotency-Key": key()},
        )
        assert_problem(cash_refund, 409, "not taken through the payment processor")
        assert_problem(c.post(f"/api/v1/staff/invoices/{other['id']}/void", headers={"Idempotency-Key": key()}), 409)
        spare = c.post(
            "/api/v1/staff/invoices",
            json={"customer_id": payer.id, "lines": LINES[2:]},
            headers={"Idempotency-Key": key()},
        ).json()["invoice"]
        voided = c.post(f"/api/v1/staff/invoices/{spare['id']}/void", headers={"Idempotency-Key": key()})
        assert voided.status_code == 200 and voided.json()["invoice"]["status"] == "void"
        overview = portal.get("/api/v1/billing/overview").json()
        assert overview["invoice_balance"]["amount_minor"] == 4_999 - 1_000
        assert portal.get(f"/api/v1/invoices/{spare['id']}").json()["invoice"]["status"] == "void"

        # A draft estimate is the staff's until sent.
        est = c.post(
            "/api/v1/staff/estimates",
            json={"customer_id": payer.id, "name": "Draft first", "lines": LINES[:1], "draft": True},
            headers={"Idempotency-Key": key()},
        ).json()["estimate"]
        assert est["status"] == "draft" and portal.get("/api/v1/estimates").json()["estimates"] == []
        sent_est = c.post(f"/api/v1/staff/estimates/{est['id']}/send", headers={"Idempotency-Key": key()})
        assert sent_est.json()["estimate"]["status"] == "open"
        assert [e["id"] for e in portal.get("/api/v1/estimates").json()["estimates"]] == [est["id"]]

        credit = c.post(
            f"/api/v1/staff/customers/{payer.id}/store-credit",
            json={"amount_minor": 2_000, "reference": "GOODWILL-7", "message": "Sorry"},
            headers={"Idempotency-Key": key()},
        )
        assert credit.status_code == 201
        ledger = c.get(f"/api/v1/staff/customers/{payer.id}/store-credit").json()
        assert [e["reference"] for e in ledger["items"]] == ["GOODWILL-7"]
        assert ledger["credit_balance"]["amount_minor"] == 2_000
