"""What the customer is shown for an invoice (issue 11): "Partly paid" and "Overdue" by one rule
(`invoices.service.display_status`) in every Invoice message, the payment_succeeded event carrying what a receipt
needs, and the invoice PDF with the provider, the bill-to customer and its labels in the customer's language."""

from __future__ import annotations

import io
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from billing.invoices.service import OVERDUE, PARTLY_PAID, display_status, today_utc
from billing.main import NAME, wire
from portal.billing.v1 import billing_pb2, billing_pb2_grpc, events_pb2
from portal.common.v1 import common_pb2
from portal_testkit.services import serve_wired
from servicekit import i18n
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.outbox_tables import outbox
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

DUE = date(2026, 3, 31)
A, B = "cust-a", "cust-b"
STAFF = Principal(kind=KIND_STAFF, subject_id="admin-1", staff_role="admin")


def user(customer_id: str, contact_id: str = "") -> Principal:
    return Principal(
        kind=KIND_PORTAL_USER,
        subject_id=f"u-{customer_id}",
        customer_id=customer_id,
        contact_id=contact_id,
        permissions=frozenset(perm.CATALOGUE),
    )


@pytest.fixture
def as_(token):  # noqa: ANN001, ANN201
    return lambda principal: call_options(token(principal))


async def new_invoice(stub, as_, customer: str, *lines: tuple[str, str, int], issued_on: str = "2026-01-01"):  # noqa: ANN001, ANN201
    req = billing_pb2.CreateInvoiceRequest(
        customer_id=customer,
        issued_on=issued_on,
        currency="USD",
        lines=[billing_pb2.LineInput(description=d, quantity=q, unit_price_minor=p) for d, q, p in lines],
    )
    return (await stub.CreateInvoice(req, **as_(STAFF))).invoice


async def card(stub, as_, sandbox, customer: str, number: str = "4242424242424242") -> str:  # noqa: ANN001
    token = sandbox.tokenize(number, 12, 2030)["id"]
    resp = await stub.AddPaymentProfile(
        billing_pb2.AddPaymentProfileRequest(processor_token=token), **as_(user(customer))
    )
    return resp.profile.id


def pay(key: str, profile_id: str, *allocs: tuple[str, int]) -> billing_pb2.MakePaymentRequest:
    return billing_pb2.MakePaymentRequest(
        idempotency_key=key,
        payment_profile_id=profile_id,
        allocations=[
            billing_pb2.Allocation(invoice_id=i, amount=common_pb2.Money(amount_minor=a, currency="USD"))
            for i, a in allocs
        ],
    )


@pytest.mark.parametrize(
    ("status", "total", "balance", "today", "expected"),
    [
        ("open", 100, 100, DUE, ("open", 0)),
        ("open", 100, 40, DUE, (PARTLY_PAID, 0)),
        ("open", 100, 100, DUE + timedelta(days=1), (OVERDUE, 1)),
        # Overdue wins over partly paid: the date is what the customer must act on; the balance is shown beside it.
        ("open", 100, 40, DUE + timedelta(days=12), (OVERDUE, 12)),
        ("paid", 100, 0, DUE + timedelta(days=30), ("paid", 0)),
        ("void", 100, 100, DUE + timedelta(days=30), ("void", 0)),
        ("open", 0, 0, DUE, ("open", 0)),
    ],
)
def test_display_status_rule(status, total, balance, today, expected):  # noqa: ANN001
    shown = display_status(status=status, total_minor=total, balance_minor=balance, due_on=DUE, today=today)
    assert shown == expected


async def test_invoices_say_partly_paid_and_overdue_over_grpc(stub, as_, sandbox):
    today = today_utc()
    current = await new_invoice(stub, as_, A, ("Labour", "1", 10_000), issued_on=today.isoformat())
    late = await new_invoice(stub, as_, A, ("Router", "1", 5_000), issued_on=(today - timedelta(days=40)).isoformat())
    assert (current.display_status, current.days_overdue) == ("open", 0)
    assert (late.display_status, late.days_overdue) == (OVERDUE, 10)  # 30 days' terms by default
    profile = await card(stub, as_, sandbox, A)
    paid = await stub.MakePayment(pay("partial-1", profile, (current.id, 2_500)), **as_(user(A)))
    assert paid.payment.status == "succeeded"
    got = (await stub.GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=current.id), **as_(user(A)))).invoice
    assert (got.display_status, got.balance_due.amount_minor) == (PARTLY_PAID, 7_500)
    listed = {i.id: i for i in (await stub.ListInvoices(billing_pb2.ListInvoicesRequest(), **as_(user(A)))).invoices}
    assert listed[current.id].display_status == PARTLY_PAID
    assert (listed[late.id].display_status, listed[late.id].days_overdue) == (OVERDUE, 10)
    summary = await stub.GetPortalSummary(billing_pb2.GetPortalSummaryRequest(), **as_(user(A)))
    assert {i.id: i.display_status for i in summary.open_invoices} == {current.id: PARTLY_PAID, late.id: OVERDUE}
    await stub.MakePayment(pay("rest-1", profile, (current.id, 7_500)), **as_(user(A)))
    got = (await stub.GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=current.id), **as_(user(A)))).invoice
    assert got.display_status == "paid"


async def test_payment_succeeded_carries_the_receipt(stub, as_, sandbox, db):
    first = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    second = await new_invoice(stub, as_, A, ("Router", "1", 4_000))
    profile = await card(stub, as_, sandbox, A, "5555555555554444")
    req = pay("receipt-1", profile, (first.id, 10_000), (second.id, 1_000))
    req.language = "fr"
    await stub.MakePayment(req, **as_(user(A, contact_id="contact-7")))
    async with db.unit_of_work() as s:
        payloads = list(
            await s.scalars(select(outbox.c.payload).where(outbox.c.subject == "portal.billing.payment_succeeded.v1"))
        )
    assert len(payloads) == 1
    event = events_pb2.PaymentOutcome.FromString(payloads[0])
    assert event.contact_id == "contact-7" and event.language == "fr"
    assert event.method == "mastercard 4444"
    assert event.amount.amount_minor == 11_000 and event.credited.amount_minor == 0
    assert event.paid_at.seconds > 0
    assert [(a.number, a.amount.amount_minor, a.balance_due.amount_minor) for a in event.applied] == [
        (first.number, 10_000, 0),
        (second.number, 1_000, 3_000),
    ]
    # Brand and last four only: nothing of the token or the number.
    assert b"5555555555554444" not in payloads[0] and b"tok_" not in payloads[0]


@pytest.fixture
async def provider_stub(db, keys, processor):  # noqa: ANN001, ANN201
    settings = SimpleNamespace(
        provider_name="Acme IT Services", provider_address_lines=("12 rue de la Paix", "75002 Paris")
    )
    async with serve_wired(lambda rt: wire(rt, processor), db, keys.verifier, name=NAME, settings=settings) as served:
        yield billing_pb2_grpc.BillingServiceStub(served.channel)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def test_invoice_pdf_has_provider_bill_to_status_and_language(provider_stub, as_, sandbox):
    stub = provider_stub
    today = today_utc()
    inv = await new_invoice(
        stub, as_, A, ("Maintenance réseau", "2", 123_450), issued_on=(today - timedelta(days=35)).isoformat()
    )
    profile = await card(stub, as_, sandbox, A)
    await stub.MakePayment(pay("pdf-part", profile, (inv.id, 46_900)), **as_(user(A)))
    bill_to = billing_pb2.BillTo(name="Dupont SARL", address_lines=["3 avenue Foch", "69006 Lyon", "FR"])

    fr = pdf_text(
        (
            await stub.GetInvoicePdf(
                billing_pb2.GetInvoicePdfRequest(invoice_id=inv.id, language="fr", bill_to=bill_to), **as_(user(A))
            )
        ).pdf
    )
    for expected in (
        "Acme IT Services",
        "12 rue de la Paix",
        "75002 Paris",
        f"Facture {inv.number}",
        "Facturé à",
        "Dupont SARL",
        "69006 Lyon",
        "Échéance",
        "En retard de 5 jours",
        "Reste à payer",
        "Prix unitaire",
        "2\u00a0000,00\u00a0$US",  # 2 469.00 − 469.00, French grouping and decimal comma (Babel)
        # SPEC H5: the date as the French write it (Babel: "30 oct. 2026").
        i18n.day(today - timedelta(days=35), "fr"),
    ):
        assert expected in fr, expected
    assert "Balance due" not in fr

    en = pdf_text(
        (
            await stub.GetInvoicePdf(
                billing_pb2.GetInvoicePdfRequest(invoice_id=inv.id, language="en", bill_to=bill_to), **as_(user(A))
            )
        ).pdf
    )
    for expected in ("Acme IT Services", f"Invoice {inv.number}", "Bill to", "Dupont SARL", "Overdue by 5 days"):
        assert expected in en, expected
    assert "$2,000.00" in en and "Facture" not in en
    assert i18n.day(today - timedelta(days=35), "en") in en


async def test_partly_paid_on_the_pdf_and_not_for_another_customer(provider_stub, as_, sandbox):
    stub = provider_stub
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000), issued_on=today_utc().isoformat())
    profile = await card(stub, as_, sandbox, A)
    await stub.MakePayment(pay("pdf-partly", profile, (inv.id, 4_000)), **as_(user(A)))
    req = billing_pb2.GetInvoicePdfRequest(invoice_id=inv.id, language="fr")
    text = pdf_text((await stub.GetInvoicePdf(req, **as_(user(A)))).pdf)
    assert "Partiellement payée" in text and "60,00\u00a0$US" in text
    # Without a bill-to the block is left out rather than printed empty.
    assert "Facturé à" not in text
    with pytest.raises(Exception, match="NOT_FOUND"):
        await stub.GetInvoicePdf(req, **as_(user(B)))


async def test_a_store_credit_payment_carries_its_language_and_method(stub, as_, db):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    credit = billing_pb2.AddStoreCreditRequest(
        customer_id=A, amount=common_pb2.Money(amount_minor=2_500, currency="USD"), reference="RMA-7"
    )
    await stub.AddStoreCredit(credit, **as_(STAFF))
    spend = billing_pb2.ApplyStoreCreditRequest(
        idempotency_key="spend-fr",
        allocations=[
            billing_pb2.Allocation(invoice_id=inv.id, amount=common_pb2.Money(amount_minor=2_000, currency="USD"))
        ],
        language="fr",
    )
    assert (await stub.ApplyStoreCredit(spend, **as_(user(A)))).payment.status == "succeeded"
    async with db.unit_of_work() as s:
        [payload] = list(
            await s.scalars(select(outbox.c.payload).where(outbox.c.subject == "portal.billing.payment_succeeded.v1"))
        )
    event = events_pb2.PaymentOutcome.FromString(payload)
    assert (event.language, event.method) == ("fr", "store credit")
    assert [(a.number, a.amount.amount_minor, a.balance_due.amount_minor) for a in event.applied] == [
        (inv.number, 2_000, 8_000)
    ]
