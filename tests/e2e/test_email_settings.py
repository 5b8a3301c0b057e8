"""Issue 12, C3 / P10 through the real stack: staff silence a customer ("no email of any kind") with
`PUT /api/v1/staff/customers/{id}`; its portal user opens a ticket, staff reply and close it, staff invoice it and the
user pays with a card — and the stack's SMTP catcher receives nothing for any of its addresses (the customer, its
contact, its additional notification and invoice CC addresses), while another customer with the same lists, doing the
same afterwards, gets every email at the addresses its settings name. A staff re-invitation of the silenced user is
refused, saying why; the other one is mailed.

identity consumes each event subject in order, and the silenced customer's events come first in every service's
outbox, so once the second customer's emails have arrived the first's events have been handled too."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.helpers import api, api_sign_in, mails, wait_for_mails

CARD = "4242424242424242"


@dataclass(frozen=True)
class Customer:
    id: str
    email: str
    contact: str  # the contact's email, also the portal login
    notify: str
    cc: str
    password: str
    user_id: str

    def addresses(self) -> set[str]:
        return {self.email, self.contact, self.notify, self.cc}


@pytest.fixture(scope="module")
def staff(stack):  # noqa: ANN001, ANN201
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
        assert r.status_code == 201, r.text
    with api(stack, r.json()["session_token"]) as client:
        yield client


def _customer(staff: httpx.Client, name: str) -> Customer:
    """A customer with a contact who has a portal user, an additional notification email and an invoice CC email,
    all made through the staff API."""
    slug = f"{name}-{uuid.uuid4().hex[:8]}"
    email, contact, notify, cc = (f"{part}-{slug}@e2e-mail.test" for part in ("office", "contact", "notify", "cc"))
    settings = {"notification_emails": [notify], "invoice_cc_emails": [cc]}
    r = staff.post(
        "/api/v1/staff/customers",
        json={"business_name": f"Mail {slug}", "email": email, "settings": settings, "idempotency_key": slug},
    )
    assert r.status_code == 201, r.text
    customer_id = r.json()["id"]
    r = staff.post(f"/api/v1/staff/customers/{customer_id}/contacts", json={"name": "Cleo Contact", "email": contact})
    assert r.status_code == 201, r.text
    password = f"pw-{slug}-long-enough"
    r = staff.post(
        f"/api/v1/staff/customers/{customer_id}/portal-users",
        json={"contact_id": r.json()["id"], "email": contact, "password": password},
    )
    assert r.status_code == 201, r.text
    return Customer(customer_id, email, contact, notify, cc, password, r.json()["id"])


def _silence(staff: httpx.Client, c: Customer) -> None:
    record = staff.get(f"/api/v1/staff/customers/{c.id}").json()
    settings = {**record["settings"], "no_email": True}
    body = {"business_name": record["business_name"], "email": record["email"], "settings": settings}
    r = staff.put(f"/api/v1/staff/customers/{c.id}", json=body)
    assert r.status_code == 200, r.text
    # The lists stay: "no email of any kind" must win over them, not merely find them empty.
    assert r.json()["settings"]["no_email"] is True and r.json()["settings"]["notification_emails"] == [c.notify]


def _work(stack, staff: httpx.Client, c: Customer, tag: str) -> None:  # noqa: ANN001
    """What brings emails: a ticket opened in the portal, a staff reply, closing it, an invoice paid by card."""
    with api(stack, api_sign_in(stack, c.contact, c.password)) as portal:
        r = portal.post("/api/v1/tickets", json={"subject": f"Mail test {tag}", "description": "The printer jams."})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        r = staff.post(f"/api/v1/staff/tickets/{tid}/comments", json={"body": f"Reply {tag}"})
        assert r.status_code == 201, r.text
        r = staff.put(f"/api/v1/staff/tickets/{tid}/status", json={"status": "Closed"})
        assert r.status_code == 200, r.text

        r = staff.post(
            "/api/v1/staff/invoices",
            json={"customer_id": c.id, "lines": [{"description": f"Fix {tag}", "unit_price_minor": 5_000}]},
            headers={"Idempotency-Key": f"mail-{tag}"},
        )
        assert r.status_code == 201, r.text
        invoice = r.json()["invoice"]
        tokenized = httpx.post(
            portal.get("/api/v1/payment-profiles").json()["tokenize_url"],
            data={"number": CARD, "exp_month": "12", "exp_year": "2031"},
            trust_env=False,
        ).json()["id"]
        r = portal.post(
            "/api/v1/payments",
            json={"processor_token": tokenized, "allocations": [{"invoice_id": invoice["id"], "amount_minor": 2_000}]},
            headers={"Idempotency-Key": f"mail-pay-{tag}"},
        )
        assert r.status_code == 201, r.text


def _to(m: dict) -> set[str]:
    return {a.lower() for a in m["rcpt_to"]}


def test_a_silenced_customer_gets_no_email_of_any_kind_while_another_gets_each_of_its_own(stack, staff) -> None:  # noqa: ANN001
    silent, loud = _customer(staff, "silent"), _customer(staff, "loud")
    _silence(staff, silent)

    _work(stack, staff, silent, f"silent-{uuid.uuid4().hex[:6]}")
    r = staff.post(f"/api/v1/staff/portal-users/{silent.user_id}/invitation")
    assert r.status_code == 409 and "no email of any kind" in r.json()["detail"], r.text

    loud_tag = f"loud-{uuid.uuid4().hex[:6]}"
    _work(stack, staff, loud, loud_tag)
    r = staff.post(f"/api/v1/staff/portal-users/{loud.user_id}/invitation")
    assert r.status_code == 204, r.text

    # The other customer: ticket emails to the contact and the additional notification address, the receipt to the
    # paying contact and the invoice CC, the invitation to the user only; never to its own address (a contact is on
    # every one of them) — one email each.
    expected = {
        (loud.contact, "received"),
        (loud.notify, "received"),
        (loud.contact, "New reply"),
        (loud.notify, "New reply"),
        (loud.contact, "closed"),
        (loud.notify, "closed"),
        (loud.contact, "Payment received"),
        (loud.cc, "Payment received"),
        (loud.contact, "invited"),
    }

    def loud_mail(m: dict) -> bool:
        return bool(_to(m) & loud.addresses())

    wait_for_mails(stack, loud_mail, count=len(expected))
    # Every address is new to this test, so every mail the catcher holds for one is this test's.
    got = [m for m in mails(stack) if loud_mail(m)]
    seen = sorted((a, m["subject"]) for m in got for a in _to(m) & loud.addresses())
    assert len(seen) == len(expected), seen
    for address, words in expected:
        assert [s for s in seen if s[0] == address and words in s[1]], (address, words, seen)

    leaked = [(sorted(_to(m)), m["subject"]) for m in mails(stack) if _to(m) & silent.addresses()]
    assert leaked == [], "emails reached a customer that wants no email of any kind"
