"""Issue 11 through the real stack: a payment through `POST /api/v1/payments` brings a receipt in the payer's language
to the mail catcher (brand and last four, never the card number or the processor's token); a partly paid invoice
says "Partly paid" with its balance and an overdue one "Overdue" with its days, in the JSON API and on the pages
(English and French, 390 and 1280 px), and paying on the French pay page mails a French receipt; the invoice PDF names
the provider and the bill-to customer in French."""

from __future__ import annotations

import io
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from pypdf import PdfReader

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.billing_world import BillingCustomer, _md, invoice, staff_token
from tests.e2e.helpers import api, api_sign_in, mails, wait_for_mails

CARD = "4242424242424242"
SHOTS = Path(os.environ.get("PORTAL_SHOTS", "/tmp/portal-shots"))  # noqa: S108 - screenshots to look at


@dataclass(frozen=True)
class World:
    customer: BillingCustomer
    current: object
    late: object
    token: str


def _customer_with_address(stack, staff: str) -> BillingCustomer:  # noqa: ANN001
    slug = uuid.uuid4().hex[:8]
    name, login, password = f"Dupont Réseaux {slug}", f"payer-{slug}@example.test", f"pw-{slug}-long-enough"
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        customer = stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(
                business_name=name,
                email=f"office-{slug}@example.test",
                idempotency_key=f"rcpt-{slug}",
                addresses=[
                    identity_pb2.Address(
                        type="billing", line1="3 avenue Foch", postal_code="69006", city="Lyon", country="France"
                    )
                ],
            ),
            timeout=10,
            metadata=_md(staff),
        ).customer
        contact = stub.CreateContact(
            identity_pb2.CreateContactRequest(
                customer_id=customer.id, name="Pat Payer", email=login, idempotency_key=f"rcpt-ctc-{slug}"
            ),
            timeout=10,
            metadata=_md(staff),
        ).contact
        stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=customer.id, contact_id=contact.id, login=login, email=login, password=password
            ),
            timeout=10,
            metadata=_md(staff),
        )
    return BillingCustomer(customer.id, login, password, name)


@pytest.fixture(scope="module")
def world(stack) -> World:  # noqa: ANN001
    """A customer with an invoice of today (partly paid below) and one issued 40 days ago (30 days' terms: 10 late)."""
    staff = staff_token(stack)
    customer = _customer_with_address(stack, staff)
    today = datetime.now(UTC).date()
    current = invoice(stack, staff, customer.customer_id, today.isoformat(), ("Maintenance réseau", 10_000))
    late = invoice(stack, staff, customer.customer_id, (today - timedelta(days=40)).isoformat(), ("Backup", 5_000))
    return World(customer, current, late, api_sign_in(stack, customer.login, customer.password))


def test_a_payment_emails_a_receipt_in_french_without_the_card_number(stack, world):  # noqa: ANN001
    with api(stack, world.token) as c:
        tokenized = httpx.post(
            c.get("/api/v1/payment-profiles").json()["tokenize_url"],
            data={"number": CARD, "exp_month": "12", "exp_year": "2031"},
            trust_env=False,
        ).json()["id"]
        body = {
            "processor_token": tokenized,
            "allocations": [{"invoice_id": world.current.id, "amount_minor": 4_000}],
            "language": "fr",
        }
        key = {"Idempotency-Key": f"receipt-{uuid.uuid4().hex}"}
        paid = c.post("/api/v1/payments", json=body, headers=key)
        assert paid.status_code == 201, paid.text
        # A retry of the same key is the same payment, and must not mail a second receipt.
        again = c.post("/api/v1/payments", json=body, headers=key)
        assert again.status_code == 200 and again.json()["replayed"] is True

        listed = {i["id"]: i for i in c.get("/api/v1/invoices").json()["invoices"]}
        assert listed[world.current.id]["display_status"] == "partly_paid"
        assert listed[world.current.id]["balance_due"]["amount_minor"] == 6_000
        assert (listed[world.late.id]["display_status"], listed[world.late.id]["days_overdue"]) == ("overdue", 10)
        one = c.get(f"/api/v1/invoices/{world.current.id}").json()["invoice"]
        assert one["display_status"] == "partly_paid" and one["days_overdue"] == 0
        home = {i["id"]: i for i in c.get("/api/v1/home").json()["invoices"]["items"]}
        assert home[world.current.id]["display_status"] == "partly_paid"
        assert (home[world.late.id]["display_status"], home[world.late.id]["days_overdue"]) == ("overdue", 10)

        pdf = c.get(f"/api/v1/invoices/{world.current.id}/pdf", params={"language": "fr"})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        for expected in (
            "Example IT Services",
            "1 Example Street",
            "Facturé à",
            world.customer.business_name,
            "3 avenue Foch",
            "69006 Lyon",
            "Partiellement payée",
            "Reste à payer",
            "60,00\u00a0$US",
        ):
            assert expected in text, expected
        late_pdf = c.get(f"/api/v1/invoices/{world.late.id}/pdf").content
        assert "Overdue by 10 days" in PdfReader(io.BytesIO(late_pdf)).pages[0].extract_text()

    login = world.customer.login
    [receipt] = wait_for_mails(stack, lambda m: login in m["rcpt_to"] and "Paiement reçu" in m["subject"])
    assert receipt["subject"] == "Paiement reçu : 40,00 $US"
    assert "Bonjour Pat Payer," in receipt["text"]
    assert "Payé avec : Visa 4242" in receipt["text"]
    assert re.search(rf"- {world.current.number}: 40,00\s+\$US \(reste à payer : 60,00\s+\$US\)", receipt["text"])
    # The marker check: nothing of the card number or the processor's token in the whole message.
    raw = str(receipt)
    assert CARD not in raw and tokenized not in raw and "tok_" not in raw
    # One receipt for the payment, whatever the retries.
    assert len([m for m in mails(stack) if world.customer.login in m["rcpt_to"]]) == 1


def _stored_card(stack, session: str, number: str) -> str:  # noqa: ANN001
    """A card tokenised at the sandbox processor and stored through the API; its profile id."""
    with api(stack, session) as c:
        tokenized = httpx.post(
            c.get("/api/v1/payment-profiles").json()["tokenize_url"],
            data={"number": number, "exp_month": "12", "exp_year": "2031"},
            trust_env=False,
        ).json()["id"]
        return c.post("/api/v1/payment-profiles", json={"processor_token": tokenized}).json()["profile"]["id"]


async def _sign_in(page, stack, customer: BillingCustomer) -> None:  # noqa: ANN001
    await page.goto(stack.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(customer.login)
    await page.get_by_label("Password").fill(customer.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.gateway_url + "/")


@pytest.fixture
def shots() -> Path:
    """Where the page screenshots go, to be looked at (PORTAL_SHOTS, else /tmp/portal-shots); never committed."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def test_partly_paid_and_overdue_on_the_pages_in_english_and_french(stack, world, page, shots):  # noqa: ANN001
    """Runs after the payment above (same module world): one invoice partly paid, one overdue."""
    await _sign_in(page, stack, world.customer)
    words = {
        "en": ("Partly paid", "Overdue · 10 days", "$60.00 due"),
        "fr": ("Partiellement payée", "En retard · 10 jours", "à payer"),
    }
    for lang, (partly, overdue, due) in words.items():
        await page.goto(f"{stack.gateway_url}/lang/{lang}?next=/billing")
        for width in (390, 1280):
            await page.set_viewport_size({"width": width, "height": 900})
            await page.goto(stack.gateway_url + "/billing/invoices")
            rows = {
                (await r.locator("td").first.inner_text()): await r.inner_text()
                for r in await page.locator("tbody tr").all()
            }
            assert partly in rows[world.current.number] and due in rows[world.current.number]
            assert overdue in rows[world.late.number]
            await page.screenshot(path=str(shots / f"invoices-{lang}-{width}.png"), full_page=True)

            await page.goto(stack.gateway_url + "/billing")
            section = await page.locator("section[aria-labelledby=open-heading]").inner_text()
            assert partly in section and overdue in section
            await page.screenshot(path=str(shots / f"billing-{lang}-{width}.png"), full_page=True)

            for which, inv, status in (("partly", world.current, partly), ("overdue", world.late, overdue)):
                await page.goto(f"{stack.gateway_url}/billing/invoices/{inv.id}")
                facts = await page.locator("dl.facts").inner_text()
                assert status in facts
                assert (due in facts) == (which == "partly")
                await page.screenshot(path=str(shots / f"invoice-{which}-{lang}-{width}.png"), full_page=True)

    # Paying on the French pay page (a card stored through the API) mails the receipt in French.
    profile = _stored_card(stack, world.token, "5555555555554444")
    await page.goto(f"{stack.gateway_url}/billing/pay?invoice={world.late.id}")
    await page.locator(f"input[name=profile_id][value='{profile}']").check()
    await page.locator("button.primary[type=submit]").click()
    await page.wait_for_url(re.compile(r".*/billing\?done=paid$"))
    late, login = world.late.number, world.customer.login
    [receipt] = wait_for_mails(stack, lambda m: login in m["rcpt_to"] and late in m["text"])
    assert receipt["subject"] == "Paiement reçu : 50,00 $US"
    assert f"- {late}: 50,00" in receipt["text"] and "(rien à payer)" in receipt["text"]
    assert "Mastercard 4444" in receipt["text"] and "5555555555554444" not in str(receipt)
    await page.goto(f"{stack.gateway_url}/lang/en?next=/")
