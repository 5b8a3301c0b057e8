"""Staff billing over gRPC on a real socket, SQLite and PostgreSQL: draft invoices (invisible to the portal, edited,
sent once), voiding (only without payments), draft estimates, a customer's payments, manual payments (oldest first,
once per key, the holds of pending payments), refunds (bounded by the charge, once per key at the processor even
when the key arrives many times at once) and the store credit ledger."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import func, select

from billing.payments.models import PENDING, Payment, PaymentAllocation, Refund
from portal.billing.v1 import billing_pb2
from portal.common.v1 import common_pb2
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.outbox_tables import outbox
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

A, B = "cust-a", "cust-b"
STAFF = Principal(kind=KIND_STAFF, subject_id="admin-1", staff_role="admin")
PORTAL_A = Principal(
    kind=KIND_PORTAL_USER,
    subject_id="u-a",
    customer_id=A,
    permissions=frozenset(perm.CATALOGUE),
    display_name="Pat Approver",
)


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="USD")


def line(description: str, price: int, quantity: str = "1") -> billing_pb2.LineInput:
    return billing_pb2.LineInput(description=description, quantity=quantity, unit_price_minor=price)


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


@pytest.fixture
def as_(token):  # noqa: ANN001, ANN201
    return lambda principal: call_options(token(principal))


async def invoice(stub, as_, amount: int, *, draft: bool = False, issued_on: str = ""):  # noqa: ANN001, ANN201
    req = billing_pb2.CreateInvoiceRequest(
        customer_id=A, currency="USD", lines=[line("Labour", amount)], draft=draft, issued_on=issued_on
    )
    return (await stub.CreateInvoice(req, **as_(STAFF))).invoice


async def subjects(db) -> list[str]:  # noqa: ANN001
    async with db.unit_of_work() as s:
        return list(await s.scalars(select(outbox.c.subject).order_by(outbox.c.created_at)))


async def count(db, model, *where) -> int:  # noqa: ANN001
    async with db.unit_of_work() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


async def card_payment(stub, as_, sandbox, invoice_id: str, amount: int, key: str = "pay-1"):  # noqa: ANN001, ANN201
    token = sandbox.tokenize("4242424242424242", 12, 2030)["id"]
    req = billing_pb2.MakePaymentRequest(
        idempotency_key=key,
        processor_token=token,
        allocations=[billing_pb2.Allocation(invoice_id=invoice_id, amount=usd(amount))],
    )
    return (await stub.MakePayment(req, **as_(PORTAL_A))).payment


# --- draft, edit, send, void -----------------------------------------------------------------------------------


async def test_a_draft_is_staffs_only_until_sent_then_numbered_and_payable(stub, as_, db, customer_settings):
    await customer_settings(A, tax_rate_bp=1000, terms_days=10)
    draft = await invoice(stub, as_, 10_000, draft=True)
    assert (draft.status, draft.number, draft.sent_on) == ("draft", "", "")
    assert draft.total.amount_minor == 11_000
    listed = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(), **as_(PORTAL_A))
    assert [i.id for i in listed.invoices] == []
    err = await rpc_error(stub.GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=draft.id), **as_(PORTAL_A)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(PORTAL_A))
    assert overview.invoice_balance.amount_minor == 0
    assert await subjects(db) == []

    edited = await stub.UpdateInvoice(
        billing_pb2.UpdateInvoiceRequest(
            invoice_id=draft.id, lines=[line("Labour", 20_000), line("Cable", 500, "2")], terms_days=0
        ),
        **as_(STAFF),
    )
    assert edited.invoice.total.amount_minor == 23_100 and [ln.description for ln in edited.lines] == [
        "Labour",
        "Cable",
    ]
    sent = await stub.SendInvoice(billing_pb2.SendInvoiceRequest(invoice_id=draft.id), **as_(STAFF))
    assert sent.invoice.status == "open" and sent.invoice.number.startswith("INV-") and not sent.replayed
    assert sent.invoice.due_on == sent.invoice.issued_on == sent.invoice.sent_on  # terms 0 from the send date
    again = await stub.SendInvoice(billing_pb2.SendInvoiceRequest(invoice_id=draft.id), **as_(STAFF))
    assert again.replayed and again.invoice.number == sent.invoice.number
    assert await subjects(db) == ["portal.billing.invoice_created.v1"]
    listed = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(), **as_(PORTAL_A))
    assert [i.id for i in listed.invoices] == [draft.id]
    err = await rpc_error(
        stub.UpdateInvoice(billing_pb2.UpdateInvoiceRequest(invoice_id=draft.id, lines=[line("X", 1)]), **as_(STAFF))
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_without_draft_an_invoice_is_sent_at_once_as_before(stub, as_, db):
    inv = await invoice(stub, as_, 5_000)
    assert inv.status == "open" and inv.number.startswith("INV-") and inv.sent_on
    assert await subjects(db) == ["portal.billing.invoice_created.v1"]


async def test_portal_users_cannot_edit_send_or_void(stub, as_):
    draft = await invoice(stub, as_, 1_000, draft=True)
    for call in (
        stub.SendInvoice(billing_pb2.SendInvoiceRequest(invoice_id=draft.id), **as_(PORTAL_A)),
        stub.VoidInvoice(billing_pb2.VoidInvoiceRequest(invoice_id=draft.id), **as_(PORTAL_A)),
        stub.UpdateInvoice(
            billing_pb2.UpdateInvoiceRequest(invoice_id=draft.id, lines=[line("X", 1)]), **as_(PORTAL_A)
        ),
    ):
        assert (await rpc_error(call)).code() == grpc.StatusCode.PERMISSION_DENIED


async def test_void_leaves_the_balance_and_is_refused_once_a_payment_applies(stub, as_, sandbox, db):
    unpaid = await invoice(stub, as_, 4_000)
    paid = await invoice(stub, as_, 6_000)
    await card_payment(stub, as_, sandbox, paid.id, 1_000)
    voided = await stub.VoidInvoice(billing_pb2.VoidInvoiceRequest(invoice_id=unpaid.id), **as_(STAFF))
    assert voided.invoice.status == "void" and voided.invoice.balance_due.amount_minor == 0
    assert voided.invoice.voided_at
    seen = await stub.GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=unpaid.id), **as_(PORTAL_A))
    assert seen.invoice.status == "void"
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(PORTAL_A))
    assert overview.invoice_balance.amount_minor == 5_000
    err = await rpc_error(stub.VoidInvoice(billing_pb2.VoidInvoiceRequest(invoice_id=paid.id), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "payment" in err.details()
    # A void invoice is payable no more.
    token = sandbox.tokenize("4242424242424242", 12, 2030)["id"]
    req = billing_pb2.MakePaymentRequest(
        idempotency_key="pay-void",
        processor_token=token,
        allocations=[billing_pb2.Allocation(invoice_id=unpaid.id, amount=usd(100))],
    )
    assert (await rpc_error(stub.MakePayment(req, **as_(PORTAL_A)))).code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_void_is_refused_while_a_payment_is_in_progress(stub, as_, db):
    inv = await invoice(stub, as_, 4_000)
    async with db.unit_of_work() as s:
        payment = Payment(
            customer_id=A,
            idempotency_key="in-flight",
            request_digest="x",
            status=PENDING,
            currency="USD",
            amount_minor=4_000,
            processor_token="tok_x",  # noqa: S106 - a made-up token, never sent
        )
        payment.allocations = [PaymentAllocation(position=1, invoice_id=inv.id, amount_minor=4_000)]
        s.add(payment)
    err = await rpc_error(stub.VoidInvoice(billing_pb2.VoidInvoiceRequest(invoice_id=inv.id), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


# --- estimates -------------------------------------------------------------------------------------------------


async def test_a_draft_estimate_is_sent_then_decided_with_who_and_when(stub, as_, db):
    req = billing_pb2.CreateEstimateRequest(customer_id=A, name="New firewall", lines=[line("Firewall", 90_000)])
    req.draft = True
    est = (await stub.CreateEstimate(req, **as_(STAFF))).estimate
    assert est.status == "draft"
    portal = await stub.ListEstimates(billing_pb2.ListEstimatesRequest(), **as_(PORTAL_A))
    assert list(portal.estimates) == []
    decide = billing_pb2.DecideEstimateRequest(estimate_id=est.id, approve=True)
    assert (await rpc_error(stub.DecideEstimate(decide, **as_(PORTAL_A)))).code() == grpc.StatusCode.NOT_FOUND
    sent = await stub.SendEstimate(billing_pb2.SendEstimateRequest(estimate_id=est.id), **as_(STAFF))
    assert sent.estimate.status == "open" and not sent.replayed
    assert (await stub.SendEstimate(billing_pb2.SendEstimateRequest(estimate_id=est.id), **as_(STAFF))).replayed
    # Sent once, so estimate_sent once (web push tells the customer it awaits approval, docs/push.md).
    assert (await subjects(db)).count("portal.billing.estimate_sent.v1") == 1
    await stub.DecideEstimate(decide, **as_(PORTAL_A))
    seen = await stub.GetEstimate(billing_pb2.GetEstimateRequest(estimate_id=est.id), **as_(STAFF))
    assert (seen.estimate.status, seen.estimate.decided_by) == ("approved", "u-a") and seen.estimate.decided_at
    assert seen.estimate.decided_by_name == "Pat Approver"


# --- manual payments -------------------------------------------------------------------------------------------


def manual(key: str, amount: int, method: str = "check", reference: str = "1042", *allocs: tuple[str, int]):  # noqa: ANN201
    return billing_pb2.RecordPaymentRequest(
        customer_id=A,
        method=method,
        reference=reference,
        amount=usd(amount),
        idempotency_key=key,
        allocations=[billing_pb2.Allocation(invoice_id=i, amount=usd(a)) for i, a in allocs],
    )


async def test_a_manual_payment_pays_the_oldest_invoices_first_once_per_key(stub, as_, db, sandbox):
    new = await invoice(stub, as_, 5_000, issued_on="2026-02-01")
    old = await invoice(stub, as_, 3_000, issued_on="2026-01-01")
    results = await asyncio.gather(
        *(stub.RecordPayment(manual("check-1042-key", 4_000), **as_(STAFF)) for _ in range(8))
    )
    assert len({r.payment.id for r in results}) == 1 and sum(not r.replayed for r in results) == 1
    payment = results[0].payment
    assert payment.status == "succeeded" and payment.method == "Check 1042" and not payment.refundable
    assert [(a.invoice_id, a.amount.amount_minor) for a in payment.allocations] == [(old.id, 3_000), (new.id, 1_000)]
    assert sandbox.charges == {}
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(PORTAL_A))
    assert overview.invoice_balance.amount_minor == 4_000
    listed = await stub.ListCustomerPayments(billing_pb2.ListCustomerPaymentsRequest(customer_id=A), **as_(STAFF))
    assert [p.id for p in listed.payments] == [payment.id]
    # More than is owed is refused (BILLING_OVERPAYMENT=refuse), and a key reused for another payment too.
    err = await rpc_error(stub.RecordPayment(manual("check-1043-key", 9_000), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(stub.RecordPayment(manual("check-1042-key", 1_000), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = await rpc_error(stub.RecordPayment(manual("check-1044-key", 100, "check", ""), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "reference" in err.details()
    err = await rpc_error(stub.RecordPayment(manual("cash-1", 100, "cash", ""), **as_(PORTAL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_manual_payment_respects_what_a_pending_payment_holds(stub, as_, db):
    inv = await invoice(stub, as_, 4_000)
    async with db.unit_of_work() as s:
        payment = Payment(
            customer_id=A,
            idempotency_key="in-flight",
            request_digest="x",
            status=PENDING,
            currency="USD",
            amount_minor=3_000,
            processor_token="tok_x",  # noqa: S106 - a made-up token, never sent
        )
        payment.allocations = [PaymentAllocation(position=1, invoice_id=inv.id, amount_minor=3_000)]
        s.add(payment)
    err = await rpc_error(
        stub.RecordPayment(manual("transfer-key-01", 2_000, "cash", "", (inv.id, 2_000)), **as_(STAFF))
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "in progress" in err.details()
    # Oldest first spreads over what the pending payment leaves: 10.00.
    err = await rpc_error(stub.RecordPayment(manual("transfer-key-02", 2_000, "cash", ""), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    ok = await stub.RecordPayment(manual("transfer-key-03", 1_000, "bank_transfer", "TRX-9"), **as_(STAFF))
    assert ok.payment.amount.amount_minor == 1_000


# --- refunds ---------------------------------------------------------------------------------------------------


def refund(payment_id: str, amount: int, key: str) -> billing_pb2.RefundPaymentRequest:
    return billing_pb2.RefundPaymentRequest(
        payment_id=payment_id, amount=usd(amount), reason="goodwill", idempotency_key=key
    )


async def test_a_partial_refund_leaves_the_invoice_paid_and_shows_on_the_payment(stub, as_, db, sandbox):
    inv = await invoice(stub, as_, 10_000)
    payment = await card_payment(stub, as_, sandbox, inv.id, 10_000)
    assert payment.refundable and payment.refundable_amount.amount_minor == 10_000
    resp = await stub.RefundPayment(refund(payment.id, 2_500, "refund-key-001"), **as_(STAFF))
    assert resp.refund.status == "succeeded" and not resp.replayed
    assert resp.payment.refunded.amount_minor == 2_500 and resp.payment.refundable_amount.amount_minor == 7_500
    assert sandbox.charge_by_key(f"portal-payment-{payment.id}")["amount_refunded"] == 2_500
    seen = await stub.GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=inv.id), **as_(PORTAL_A))
    assert seen.invoice.status == "paid" and seen.invoice.balance_due.amount_minor == 0
    assert seen.payments[0].refunded.amount_minor == 2_500
    mine = await stub.ListPayments(billing_pb2.ListPaymentsRequest(), **as_(PORTAL_A))
    assert mine.payments[0].refunded.amount_minor == 2_500
    assert (await subjects(db)).count("portal.billing.payment_refunded.v1") == 1
    # Never more than what is left of the charge.
    err = await rpc_error(stub.RefundPayment(refund(payment.id, 7_501, "refund-key-002"), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "75.00 USD" in err.details()
    err = await rpc_error(stub.RefundPayment(refund(payment.id, 0, "refund-key-003"), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(stub.RefundPayment(refund(payment.id, 100, "refund-key-004"), **as_(PORTAL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_concurrent_same_key_refunds_make_one_processor_refund(stub, as_, db, sandbox):
    inv = await invoice(stub, as_, 10_000)
    payment = await card_payment(stub, as_, sandbox, inv.id, 10_000)
    results = await asyncio.gather(
        *(stub.RefundPayment(refund(payment.id, 4_000, "same-refund-key"), **as_(STAFF)) for _ in range(10))
    )
    assert len({r.refund.id for r in results}) == 1 and sum(not r.replayed for r in results) == 1
    assert await count(db, Refund) == 1
    assert sandbox.charge_by_key(f"portal-payment-{payment.id}")["amount_refunded"] == 4_000
    listed = await stub.ListCustomerPayments(billing_pb2.ListCustomerPaymentsRequest(customer_id=A), **as_(STAFF))
    assert listed.payments[0].refunded.amount_minor == 4_000
    assert (await subjects(db)).count("portal.billing.payment_refunded.v1") == 1


async def test_refunds_with_different_keys_never_exceed_the_charge(stub, as_, db, sandbox):
    inv = await invoice(stub, as_, 10_000)
    payment = await card_payment(stub, as_, sandbox, inv.id, 10_000)
    calls = [stub.RefundPayment(refund(payment.id, 3_000, f"racing-refund-{i:02d}"), **as_(STAFF)) for i in range(6)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 3 and len(refused) == 3
    assert all(r.code() == grpc.StatusCode.INVALID_ARGUMENT for r in refused)
    assert sandbox.charge_by_key(f"portal-payment-{payment.id}")["amount_refunded"] == 9_000
    async with db.unit_of_work() as s:
        assert (await s.get(Payment, payment.id)).refunded_minor == 9_000


async def test_a_manual_or_store_credit_payment_cannot_be_refunded_through_the_processor(stub, as_):
    inv = await invoice(stub, as_, 3_000)
    paid = (await stub.RecordPayment(manual("cash-paid-key-1", 3_000, "cash", ""), **as_(STAFF))).payment
    err = await rpc_error(stub.RefundPayment(refund(paid.id, 1_000, "refund-cash-key"), **as_(STAFF)))
    assert (
        err.code() == grpc.StatusCode.FAILED_PRECONDITION and "not taken through the payment processor" in err.details()
    )
    assert inv.id in [a.invoice_id for a in paid.allocations]


# --- store credit ledger ---------------------------------------------------------------------------------------


async def test_the_credit_ledger_lists_entries_newest_first_with_the_balance(stub, as_):
    for i, amount in enumerate((1_000, 2_500)):
        await stub.AddStoreCredit(
            billing_pb2.AddStoreCreditRequest(
                customer_id=A,
                amount=usd(amount),
                reference=f"REF-{i}",
                message="Goodwill",
                idempotency_key=f"credit-{i}",
            ),
            **as_(STAFF),
        )
    ledger = await stub.ListCreditEntries(billing_pb2.ListCreditEntriesRequest(customer_id=A), **as_(STAFF))
    assert [e.reference for e in ledger.entries] == ["REF-1", "REF-0"]
    assert ledger.credit_balance.amount_minor == 3_500 and ledger.entries[0].created_by == "admin-1"
    other = await stub.ListCreditEntries(billing_pb2.ListCreditEntriesRequest(customer_id=B), **as_(STAFF))
    assert list(other.entries) == [] and other.credit_balance.amount_minor == 0
    err = await rpc_error(stub.ListCreditEntries(billing_pb2.ListCreditEntriesRequest(customer_id=A), **as_(PORTAL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_refused_refund_does_not_use_up_its_key(stub, as_, sandbox):
    inv = await invoice(stub, as_, 10_000)
    payment = await card_payment(stub, as_, sandbox, inv.id, 10_000)
    err = await rpc_error(stub.RefundPayment(refund(payment.id, 20_000, "form-key-0000001"), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    resp = await stub.RefundPayment(refund(payment.id, 1_000, "form-key-0000001"), **as_(STAFF))
    assert resp.refund.status == "succeeded"
    # The same for a manual payment: an amount over what is owed is refused and the corrected form goes through.
    other = await invoice(stub, as_, 2_000)
    err = await rpc_error(stub.RecordPayment(manual("form-key-0000002", 9_000, "cash", ""), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    paid = await stub.RecordPayment(manual("form-key-0000002", 2_000, "cash", ""), **as_(STAFF))
    assert paid.payment.allocations[0].invoice_id == other.id and not paid.replayed


async def test_staff_read_one_customers_overview_and_a_portal_user_only_its_own(stub, as_):
    await invoice(stub, as_, 4_000)
    await invoice(stub, as_, 6_000)
    await invoice(stub, as_, 9_999, draft=True)  # a draft owes nothing yet
    await stub.AddStoreCredit(
        billing_pb2.AddStoreCreditRequest(customer_id=A, amount=usd(500), reference="R", idempotency_key="ov-1"),
        **as_(STAFF),
    )
    seen = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(customer_id=A), **as_(STAFF))
    assert (seen.invoice_balance.amount_minor, seen.open_invoices, seen.credit_balance.amount_minor) == (10_000, 2, 500)
    other = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(customer_id=B), **as_(STAFF))
    assert other.invoice_balance.amount_minor == 0
    err = await rpc_error(stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(STAFF)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(
        stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(customer_id=B), **as_(PORTAL_A))
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


TECHNICIAN = Principal(kind=KIND_STAFF, subject_id="tech-1", staff_role="technician")


async def test_a_technician_reads_billing_but_is_refused_every_billing_change(stub, as_, sandbox):  # noqa: ANN001
    """SPEC S1 (issue 12): billing changes are an admin's; billing refuses a technician itself, over gRPC."""
    line = [billing_pb2.LineInput(description="Labour", quantity="1", unit_price_minor=1_000)]
    calls = {
        "CreateInvoice": billing_pb2.CreateInvoiceRequest(customer_id=A, lines=line, idempotency_key="t" * 16),
        "UpdateInvoice": billing_pb2.UpdateInvoiceRequest(invoice_id="inv-x"),
        "SendInvoice": billing_pb2.SendInvoiceRequest(invoice_id="inv-x"),
        "VoidInvoice": billing_pb2.VoidInvoiceRequest(invoice_id="inv-x"),
        "CreateEstimate": billing_pb2.CreateEstimateRequest(customer_id=A, name="E", lines=line),
        "SendEstimate": billing_pb2.SendEstimateRequest(estimate_id="est-x"),
        "AddStoreCredit": billing_pb2.AddStoreCreditRequest(customer_id=A, amount=usd(100), reference="r"),
        "RecordPayment": billing_pb2.RecordPaymentRequest(customer_id=A, method="cash", amount=usd(100)),
        "RefundPayment": billing_pb2.RefundPaymentRequest(payment_id="pay-x", amount=usd(100)),
    }
    for name, request in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await getattr(stub, name)(request, **as_(TECHNICIAN))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
        assert "only an admin" in err.value.details(), name
    # Reading stays open to a technician.
    await stub.ListInvoices(billing_pb2.ListInvoicesRequest(customer_id=A), **as_(TECHNICIAN))
    await stub.ListCustomerPayments(billing_pb2.ListCustomerPaymentsRequest(customer_id=A), **as_(TECHNICIAN))
    await stub.ListCreditEntries(billing_pb2.ListCreditEntriesRequest(customer_id=A), **as_(TECHNICIAN))
