"""Billing's payment, estimate, profile and credit RPCs over a real localhost socket, with the sandbox processor
behind the real HTTP adapter: tenant isolation, permissions, exactly-once charging and the events written."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import select

from billing.payments.models import Payment
from billing.payments.processor import InvalidToken
from portal.billing.v1 import billing_pb2
from portal.common.v1 import common_pb2
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.outbox_tables import outbox
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

A, B = "cust-a", "cust-b"
ADMIN = frozenset(perm.CATALOGUE)
STAFF = Principal(kind=KIND_STAFF, subject_id="admin-1", staff_role="admin")


def user(customer_id: str, perms: frozenset[str] = ADMIN, contact_id: str = "") -> Principal:
    return Principal(
        kind=KIND_PORTAL_USER,
        subject_id=f"u-{customer_id}",
        customer_id=customer_id,
        contact_id=contact_id,
        permissions=perms,
    )


def usd(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency="USD")


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


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
        billing_pb2.AddPaymentProfileRequest(processor_token=token, nickname="Office card"), **as_(user(customer))
    )
    return resp.profile.id


def pay(key: str, profile_id: str, *allocs: tuple[str, int]) -> billing_pb2.MakePaymentRequest:
    return billing_pb2.MakePaymentRequest(
        idempotency_key=key,
        payment_profile_id=profile_id,
        allocations=[billing_pb2.Allocation(invoice_id=i, amount=usd(a)) for i, a in allocs],
    )


async def subjects(db) -> list[str]:  # noqa: ANN001
    async with db.unit_of_work() as s:
        return list(await s.scalars(select(outbox.c.subject).order_by(outbox.c.created_at)))


async def test_staff_invoice_applies_the_customers_tax_and_terms(stub, as_, customer_settings):
    await customer_settings(A, tax_rate_bp=825, terms_days=15)
    inv = await new_invoice(stub, as_, A, ("Labour", "1.5", 10_000), ("Router", "1", 4_999))
    assert inv.subtotal.amount_minor == 19_999
    assert inv.tax.amount_minor == 1_650  # 8.25 % of 199.99 = 16.499… rounds half-up to 16.50
    assert inv.total.amount_minor == inv.balance_due.amount_minor == 21_649
    assert (inv.issued_on, inv.due_on) == ("2026-01-01", "2026-01-16")
    await customer_settings(A, tax_rate_bp=825, tax_free=True)
    assert (await new_invoice(stub, as_, A, ("Fee", "1", 1_000))).tax.amount_minor == 0


async def test_portal_users_cannot_use_staff_rpcs(stub, as_):
    req = billing_pb2.CreateInvoiceRequest(customer_id=A, lines=[billing_pb2.LineInput(description="x", quantity="1")])
    assert (await rpc_error(stub.CreateInvoice(req, **as_(user(A))))).code() == grpc.StatusCode.PERMISSION_DENIED
    credit = billing_pb2.AddStoreCreditRequest(customer_id=A, amount=usd(100), reference="r")
    assert (await rpc_error(stub.AddStoreCredit(credit, **as_(user(A))))).code() == grpc.StatusCode.PERMISSION_DENIED


async def test_pay_all_with_a_stored_card_pays_balances_and_records_events(stub, as_, sandbox, db):
    i1 = await new_invoice(stub, as_, A, ("Old", "1", 10_000), issued_on="2026-01-01")
    i2 = await new_invoice(stub, as_, A, ("Mid", "1", 20_000), issued_on="2026-02-01")
    i3 = await new_invoice(stub, as_, A, ("New", "1", 30_000), issued_on="2026-03-01")
    proposal = await stub.ProposeAllocation(billing_pb2.ProposeAllocationRequest(amount=usd(25_000)), **as_(user(A)))
    assert [(a.invoice_id, a.amount.amount_minor) for a in proposal.allocations] == [
        (i1.id, 10_000),
        (i2.id, 15_000),
        (i3.id, 0),
    ]
    profile = await card(stub, as_, sandbox, A)
    resp = await stub.MakePayment(pay("k1", profile, (i1.id, 10_000), (i2.id, 15_000)), **as_(user(A)))
    assert resp.payment.status == "succeeded" and not resp.replayed
    assert resp.payment.amount.amount_minor == 25_000 and resp.payment.method == "visa 4242"
    assert list(resp.payment.invoice_numbers) == [i1.number, i2.number]

    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(user(A)))
    assert overview.invoice_balance.amount_minor == 5_000 + 30_000
    opened = await stub.ListOpenInvoices(billing_pb2.ListOpenInvoicesRequest(), **as_(user(A)))
    assert [(i.number, i.balance_due.amount_minor) for i in opened.invoices] == [
        (i2.number, 5_000),
        (i3.number, 30_000),
    ]
    recent = await stub.ListPayments(billing_pb2.ListPaymentsRequest(), **as_(user(A)))
    assert [p.id for p in recent.payments] == [resp.payment.id]
    assert len(sandbox.charges) == 1
    assert (await subjects(db)).count("portal.billing.invoice_paid.v1") == 1
    assert (await subjects(db)).count("portal.billing.payment_succeeded.v1") == 1


async def test_one_key_is_one_charge_and_one_payment_even_when_sent_fifty_times_at_once(stub, as_, sandbox, db):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    results = await asyncio.gather(
        *(stub.MakePayment(pay("same", profile, (inv.id, 1_000)), **as_(user(A))) for _ in range(50))
    )
    assert {r.payment.id for r in results} == {results[0].payment.id}
    assert {r.payment.status for r in results} == {"succeeded"}
    assert len(sandbox.charges) == 1
    async with db.unit_of_work() as s:
        assert len(list(await s.scalars(select(Payment)))) == 1
    (one,) = (await stub.ListOpenInvoices(billing_pb2.ListOpenInvoicesRequest(), **as_(user(A)))).invoices
    assert one.balance_due.amount_minor == 9_000
    assert (await subjects(db)).count("portal.billing.payment_succeeded.v1") == 1


async def test_a_key_reused_for_another_payment_is_refused(stub, as_, sandbox):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    await stub.MakePayment(pay("k", profile, (inv.id, 1_000)), **as_(user(A)))
    err = await rpc_error(stub.MakePayment(pay("k", profile, (inv.id, 2_000)), **as_(user(A))))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_overpayment_and_bad_amounts_are_refused_on_the_server(stub, as_, sandbox):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    for allocs in [((inv.id, 10_001),), ((inv.id, 0),), ((inv.id, -5),), ()]:
        err = await rpc_error(stub.MakePayment(pay("k", profile, *allocs), **as_(user(A))))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, allocs
    assert sandbox.charges == {}


@pytest.mark.parametrize("overpayment", ["store_credit"])
async def test_overpayment_becomes_store_credit_once_when_configured(stub, as_, sandbox, db):
    a = as_(user(A))
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    other = await new_invoice(stub, as_, A, ("Parts", "1", 3_000))
    profile = await card(stub, as_, sandbox, A)
    proposal = await stub.ProposeAllocation(billing_pb2.ProposeAllocationRequest(amount=usd(20_000)), **a)
    assert proposal.overpayment_becomes_credit
    request = pay("over", profile, (inv.id, 12_500), (other.id, 1_000))
    # Twenty submissions of one key at once: one charge of the whole amount, the excess credited once.
    results = await asyncio.gather(*(stub.MakePayment(request, **a) for _ in range(20)))
    assert {r.payment.id for r in results} == {results[0].payment.id}
    assert {(r.payment.amount.amount_minor, r.payment.credited.amount_minor) for r in results} == {(13_500, 2_500)}
    assert [c["amount"] for c in sandbox.charges.values()] == [13_500]
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **a)
    assert (overview.invoice_balance.amount_minor, overview.credit_balance.amount_minor) == (2_000, 2_500)
    (listed,) = (await stub.ListPayments(billing_pb2.ListPaymentsRequest(), **a)).payments
    assert listed.credited.amount_minor == 2_500
    replay = await stub.MakePayment(request, **a)
    assert replay.replayed and replay.payment.credited.amount_minor == 2_500
    async with db.unit_of_work() as s:
        assert len(list(await s.scalars(select(Payment)))) == 1
    assert (await subjects(db)).count("portal.billing.payment_succeeded.v1") == 1
    # The credit is spendable like staff credit.
    spend = billing_pb2.ApplyStoreCreditRequest(
        idempotency_key="spend", allocations=[billing_pb2.Allocation(invoice_id=other.id, amount=usd(2_000))]
    )
    assert (await stub.ApplyStoreCredit(spend, **a)).payment.status == "succeeded"
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **a)
    assert (overview.invoice_balance.amount_minor, overview.credit_balance.amount_minor) == (0, 500)


async def test_overpayment_is_refused_by_default_and_said_so(stub, as_, sandbox):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    proposal = await stub.ProposeAllocation(billing_pb2.ProposeAllocationRequest(amount=usd(1)), **as_(user(A)))
    assert not proposal.overpayment_becomes_credit
    err = await rpc_error(stub.MakePayment(pay("over", profile, (inv.id, 10_001)), **as_(user(A))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "overpayment is refused" in err.details()
    assert sandbox.charges == {}


async def test_a_declined_card_fails_the_payment_and_leaves_the_balance(stub, as_, sandbox, db):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A, "4000000000000002")
    resp = await stub.MakePayment(pay("k", profile, (inv.id, 10_000)), **as_(user(A)))
    assert (resp.payment.status, resp.payment.failure_reason) == ("failed", "card_declined")
    (still,) = (await stub.ListOpenInvoices(billing_pb2.ListOpenInvoicesRequest(), **as_(user(A)))).invoices
    assert still.balance_due.amount_minor == 10_000
    assert "portal.billing.payment_failed.v1" in await subjects(db)
    assert (await stub.ListPayments(billing_pb2.ListPaymentsRequest(), **as_(user(A)))).payments == []


async def test_a_processor_timeout_then_a_retry_charges_once(stub, as_, sandbox, processor):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    processor.timeout = 0.3
    sandbox.mode, sandbox.times, sandbox.delay = "timeout", 1, 1.0
    err = await rpc_error(stub.MakePayment(pay("k", profile, (inv.id, 10_000)), **as_(user(A))))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert len(sandbox.charges) == 1  # the processor did charge; we just never heard back
    resp = await stub.MakePayment(pay("k", profile, (inv.id, 10_000)), **as_(user(A)))
    assert resp.payment.status == "succeeded"
    assert len(sandbox.charges) == 1
    assert (await stub.ListOpenInvoices(billing_pb2.ListOpenInvoicesRequest(), **as_(user(A)))).invoices == []


async def test_a_processor_error_then_a_retry_charges_once(stub, as_, sandbox):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    sandbox.mode, sandbox.times = "fail", 1
    err = await rpc_error(stub.MakePayment(pay("k", profile, (inv.id, 500)), **as_(user(A))))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    resp = await stub.MakePayment(pay("k", profile, (inv.id, 500)), **as_(user(A)))
    assert resp.payment.status == "succeeded" and resp.replayed
    assert len(sandbox.charges) == 1


async def test_another_customers_records_are_not_found(stub, as_, sandbox):
    inv_b = await new_invoice(stub, as_, B, ("Theirs", "1", 10_000))
    profile_b = await card(stub, as_, sandbox, B)
    est_b = (
        await stub.CreateEstimate(
            billing_pb2.CreateEstimateRequest(
                customer_id=B, name="Theirs", lines=[billing_pb2.LineInput(description="x", quantity="1")]
            ),
            **as_(STAFF),
        )
    ).estimate
    profile_a = await card(stub, as_, sandbox, A)
    a = as_(user(A))
    calls = [
        stub.GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=inv_b.id), **a),
        stub.MakePayment(pay("k", profile_a, (inv_b.id, 100)), **a),
        stub.MakePayment(pay("k2", profile_b, (inv_b.id, 100)), **a),
        stub.UpdatePaymentProfile(billing_pb2.UpdatePaymentProfileRequest(profile_id=profile_b, nickname="x"), **a),
        stub.DeletePaymentProfile(billing_pb2.DeletePaymentProfileRequest(profile_id=profile_b), **a),
        stub.GetEstimate(billing_pb2.GetEstimateRequest(estimate_id=est_b.id), **a),
        stub.DecideEstimate(billing_pb2.DecideEstimateRequest(estimate_id=est_b.id, approve=True), **a),
    ]
    for call in calls:
        assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND
    assert sandbox.charges == {}
    listed = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(), **a)
    assert listed.invoices == []


@pytest.mark.parametrize(
    ("missing", "call"),
    [
        (perm.INVOICES_PAY_ONLINE, lambda stub, o: stub.MakePayment(pay("k", "p", ("i", 1)), **o)),
        (perm.INVOICES_PAY_ONLINE, lambda stub, o: stub.ProposeAllocation(billing_pb2.ProposeAllocationRequest(), **o)),
        (
            perm.PAYMENT_OPTIONS_MANAGE,
            lambda stub, o: stub.AddPaymentProfile(billing_pb2.AddPaymentProfileRequest(processor_token="t"), **o),  # noqa: S106,
        ),
        (
            perm.PAYMENT_OPTIONS_MANAGE,
            lambda stub, o: stub.DeletePaymentProfile(billing_pb2.DeletePaymentProfileRequest(profile_id="p"), **o),
        ),
        (
            perm.ACCOUNT_OVERVIEW_VIEW,
            lambda stub, o: stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **o),
        ),
        (perm.PAYMENTS_VIEW_ALL, lambda stub, o: stub.ListPayments(billing_pb2.ListPaymentsRequest(), **o)),
        (perm.ESTIMATES_VIEW_ALL, lambda stub, o: stub.ListEstimates(billing_pb2.ListEstimatesRequest(), **o)),
        (perm.INVOICES_VIEW_ALL, lambda stub, o: stub.ListInvoices(billing_pb2.ListInvoicesRequest(), **o)),
    ],
    ids=["pay", "propose", "add-profile", "delete-profile", "overview", "payments", "estimates", "invoices"],
)
async def test_a_group_without_the_permission_is_denied(stub, as_, missing, call):
    mine = {missing.replace("view_all", "view_mine")}
    perms = ADMIN - {missing} - mine
    err = await rpc_error(call(stub, as_(user(A, frozenset(perms)))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_estimate_is_approved_once_and_then_frozen(stub, as_, db):
    est = (
        await stub.CreateEstimate(
            billing_pb2.CreateEstimateRequest(
                customer_id=A,
                name="New firewall",
                lines=[billing_pb2.LineInput(description="Firewall", quantity="2", unit_price_minor=45_000)],
            ),
            **as_(STAFF),
        )
    ).estimate
    assert (est.status, est.total.amount_minor) == ("open", 90_000)
    approve = billing_pb2.DecideEstimateRequest(estimate_id=est.id, approve=True)
    results = await asyncio.gather(
        *(stub.DecideEstimate(approve, **as_(user(A))) for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert {r.code() for r in results if isinstance(r, Exception)} == {grpc.StatusCode.FAILED_PRECONDITION}
    decline = billing_pb2.DecideEstimateRequest(estimate_id=est.id, approve=False)
    err = await rpc_error(stub.DecideEstimate(decline, **as_(user(A))))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    got = await stub.GetEstimate(billing_pb2.GetEstimateRequest(estimate_id=est.id), **as_(user(A)))
    assert got.estimate.status == "approved" and got.estimate.decided_at
    assert (await subjects(db)).count("portal.billing.estimate_approved.v1") == 1
    assert "portal.billing.estimate_declined.v1" not in await subjects(db)


async def test_a_decision_keeps_its_optional_reason_and_refuses_a_long_one(stub, as_):
    """Issue 15: the decider's reason (trimmed, at most 500 characters) is kept and given back to staff; a longer
    one is INVALID_ARGUMENT naming the field, and the estimate stays open."""
    new = billing_pb2.CreateEstimateRequest(
        customer_id=A,
        name="Switch",
        lines=[billing_pb2.LineInput(description="Switch", quantity="1", unit_price_minor=1)],
    )
    est = (await stub.CreateEstimate(new, **as_(STAFF))).estimate
    long = billing_pb2.DecideEstimateRequest(estimate_id=est.id, approve=False, reason="x" * 501)
    err = await rpc_error(stub.DecideEstimate(long, **as_(user(A))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith("reason:")
    got = await stub.GetEstimate(billing_pb2.GetEstimateRequest(estimate_id=est.id), **as_(STAFF))
    assert got.estimate.status == "open" and not got.estimate.decision_reason
    why = "  Too expensive this quarter; <b>ask again</b> in May.  "
    decide = billing_pb2.DecideEstimateRequest(estimate_id=est.id, approve=False, reason=why)
    assert (await stub.DecideEstimate(decide, **as_(user(A)))).estimate.decision_reason == why.strip()
    got = await stub.GetEstimate(billing_pb2.GetEstimateRequest(estimate_id=est.id), **as_(STAFF))
    assert (got.estimate.status, got.estimate.decision_reason) == ("declined", why.strip())
    plain = (await stub.CreateEstimate(new, **as_(STAFF))).estimate
    decide = billing_pb2.DecideEstimateRequest(estimate_id=plain.id, approve=True)
    assert (await stub.DecideEstimate(decide, **as_(user(A)))).estimate.decision_reason == ""


async def test_the_sandbox_processor_lists_its_test_cards(stub, as_, sandbox):
    """Issue 15: with the sandbox processor the add-card pages can show the numbers it accepts."""
    listed = await stub.ListPaymentProfiles(billing_pb2.ListPaymentProfilesRequest(), **as_(user(A)))
    cards = {c.number: (c.brand, c.decline_code) for c in listed.test_cards}
    assert cards["4242424242424242"] == ("visa", "") and cards["4000000000000002"] == ("visa", "card_declined")
    assert len(cards) == 4


async def test_payment_profiles_nickname_reminder_once_and_delete(stub, as_, sandbox):
    profile = await card(stub, as_, sandbox, A, "5555555555554444")
    a = as_(user(A))
    (listed,) = (await stub.ListPaymentProfiles(billing_pb2.ListPaymentProfilesRequest(), **a)).profiles
    assert (listed.brand, listed.last4, listed.exp_month, listed.exp_year) == ("mastercard", "4444", 12, 2030)
    upd = billing_pb2.UpdatePaymentProfileRequest
    renamed = await stub.UpdatePaymentProfile(upd(profile_id=profile, nickname="Backup"), **a)
    assert renamed.profile.nickname == "Backup"
    set_once = await stub.UpdatePaymentProfile(upd(profile_id=profile, reminder_on="2030-11-01"), **a)
    assert set_once.profile.reminder_on == "2030-11-01" and set_once.profile.reminder_locked
    err = await rpc_error(stub.UpdatePaymentProfile(upd(profile_id=profile, reminder_on="2030-12-01"), **a))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    await stub.DeletePaymentProfile(billing_pb2.DeletePaymentProfileRequest(profile_id=profile), **a)
    assert (await stub.ListPaymentProfiles(billing_pb2.ListPaymentProfilesRequest(), **a)).profiles == []


async def test_a_bank_account_is_stored_as_its_token_bank_and_last_four_and_pays(stub, as_, sandbox, db):
    token = sandbox.tokenize_bank("000123456789", "110000000")["id"]
    a = as_(user(A))
    added = await stub.AddPaymentProfile(
        billing_pb2.AddPaymentProfileRequest(processor_token=token, nickname="Operating account"), **a
    )
    got = added.profile
    assert (got.kind, got.brand, got.last4, got.nickname) == ("ach", "Sandbox Test Bank", "6789", "Operating account")
    assert (got.exp_month, got.exp_year) == (0, 0)
    upd = billing_pb2.UpdatePaymentProfileRequest(profile_id=got.id, reminder_on="2030-01-01")
    assert (await rpc_error(stub.UpdatePaymentProfile(upd, **a))).code() == grpc.StatusCode.INVALID_ARGUMENT
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    resp = await stub.MakePayment(pay("ach-1", got.id, (inv.id, 4_000)), **a)
    assert resp.payment.status == "succeeded" and resp.payment.method == "Sandbox Test Bank 6789"
    async with db.unit_of_work() as s:
        stored = list(await s.scalars(select(Payment.processor_token)))
    assert stored == [token]
    for account, routing in [("000123456789", "021000021"), ("111111111111", "110000000")]:
        with pytest.raises(ValueError):
            sandbox.tokenize_bank(account, routing)


async def test_an_unknown_token_cannot_be_stored(stub, as_):
    req = billing_pb2.AddPaymentProfileRequest(processor_token="tok_made_up")  # noqa: S106
    assert (await rpc_error(stub.AddPaymentProfile(req, **as_(user(A))))).code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_store_credit_shows_in_the_overview(stub, as_):
    await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    credit = billing_pb2.AddStoreCreditRequest(customer_id=A, amount=usd(2_500), reference="RMA-7", message="Refund")
    assert (await stub.AddStoreCredit(credit, **as_(STAFF))).credit_balance.amount_minor == 2_500
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(user(A)))
    assert (overview.invoice_balance.amount_minor, overview.credit_balance.amount_minor) == (10_000, 2_500)
    other = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(user(B)))
    assert (other.invoice_balance.amount_minor, other.credit_balance.amount_minor) == (0, 0)


async def test_view_all_searches_numbers_and_items(stub, as_):
    router = await new_invoice(stub, as_, A, ("Router install", "1", 100), issued_on="2026-01-01")
    backup = await new_invoice(stub, as_, A, ("Backup plan", "1", 100), issued_on="2026-02-01")
    a = as_(user(A))
    listed = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(), **a)
    assert [i.number for i in listed.invoices] == [backup.number, router.number]
    by_item = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(query="ROUTER"), **a)
    assert [i.number for i in by_item.invoices] == [router.number]
    by_number = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(query=backup.number), **a)
    assert [i.number for i in by_number.invoices] == [backup.number]
    assert (await stub.ListInvoices(billing_pb2.ListInvoicesRequest(query="100%"), **a)).invoices == []


async def test_invoice_and_estimate_pdfs_for_the_owner_only(stub, as_):
    inv = await new_invoice(stub, as_, A, ("Labour – réseau", "1.5", 10_000))
    pdf = await stub.GetInvoicePdf(billing_pb2.GetInvoicePdfRequest(invoice_id=inv.id), **as_(user(A)))
    assert pdf.pdf.startswith(b"%PDF") and pdf.filename == f"{inv.number}.pdf"
    err = await rpc_error(stub.GetInvoicePdf(billing_pb2.GetInvoicePdfRequest(invoice_id=inv.id), **as_(user(B))))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    est = (
        await stub.CreateEstimate(
            billing_pb2.CreateEstimateRequest(
                customer_id=A, name="Laptops", lines=[billing_pb2.LineInput(description="Laptop", quantity="3")]
            ),
            **as_(STAFF),
        )
    ).estimate
    epdf = await stub.GetEstimatePdf(billing_pb2.GetEstimatePdfRequest(estimate_id=est.id), **as_(user(A)))
    assert epdf.pdf.startswith(b"%PDF")


def credit_req(key: str, *allocs: tuple[str, int]) -> billing_pb2.ApplyStoreCreditRequest:
    return billing_pb2.ApplyStoreCreditRequest(
        idempotency_key=key, allocations=[billing_pb2.Allocation(invoice_id=i, amount=usd(a)) for i, a in allocs]
    )


async def test_store_credit_pays_invoices_once_and_never_below_zero(stub, as_, sandbox, db):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    await stub.AddStoreCredit(
        billing_pb2.AddStoreCreditRequest(customer_id=A, amount=usd(6_000), reference="RMA-1"), **as_(STAFF)
    )
    results = await asyncio.gather(
        *(stub.ApplyStoreCredit(credit_req("c1", (inv.id, 4_000)), **as_(user(A))) for _ in range(10))
    )
    assert {r.payment.id for r in results} == {results[0].payment.id}
    assert results[0].payment.method == "store credit" and results[0].payment.status == "succeeded"
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(user(A)))
    assert (overview.invoice_balance.amount_minor, overview.credit_balance.amount_minor) == (6_000, 2_000)
    err = await rpc_error(stub.ApplyStoreCredit(credit_req("c2", (inv.id, 2_001)), **as_(user(A))))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Two different keys racing for the last 20.00: one wins, the balance never goes negative.
    raced = await asyncio.gather(
        *(stub.ApplyStoreCredit(credit_req(f"r{i}", (inv.id, 2_000)), **as_(user(A))) for i in range(2)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in raced) == 1
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(user(A)))
    assert (overview.invoice_balance.amount_minor, overview.credit_balance.amount_minor) == (4_000, 0)
    assert sandbox.charges == {}
    err = await rpc_error(stub.ApplyStoreCredit(credit_req("c3", (inv.id, 1)), **as_(user(B))))
    assert err.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "bad_token",
    ["zz/../tok_" + "0" * 24, "tok_\x01" + "0" * 23, "tok_%2e%2e%2fv1%2fcharges", "pm_1234", "tok_" + "0" * 25],
    ids=["path", "control", "encoded", "other-processor", "too-long"],
)
async def test_a_token_not_in_the_processors_format_is_refused_before_any_call(stub, as_, sandbox, bad_token):
    calls_before = len(sandbox.charges)
    request = billing_pb2.AddPaymentProfileRequest(processor_token=bad_token)
    err = await rpc_error(stub.AddPaymentProfile(request, **as_(user(A))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("processor_token: ") and "tok_" in err.details()
    assert len(sandbox.charges) == calls_before


async def test_the_adapter_quotes_the_token_so_it_stays_one_path_segment(processor, sandbox):
    """Defence in depth behind the format check: a token is never a path of the client's choosing."""
    sandbox.charge("key-1", sandbox.tokenize("4242424242424242", 12, 2031)["id"], 100, "USD")
    with pytest.raises(InvalidToken):
        await processor.describe_token("../charges")


async def charge_started(sandbox) -> None:  # noqa: ANN001
    for _ in range(500):
        if sandbox.charges:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first charge never reached the processor")


async def test_twenty_payments_with_twenty_keys_for_one_balance_charge_the_card_once(stub, as_, sandbox, db):
    """Issue 11: two tabs (or two users) paying the same invoice, each with its own form and key. The first
    payment is still at the processor (it answers after a delay) while the others arrive: they see the amount it
    holds and are refused before any charge, so the card is charged once and nothing becomes store credit."""
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    sandbox.mode, sandbox.times, sandbox.delay = "timeout", 1, 0.5
    first = asyncio.ensure_future(stub.MakePayment(pay("tab-00", profile, (inv.id, 10_000)), **as_(user(A))))
    await charge_started(sandbox)  # the first payment is pending at the processor
    others = await asyncio.gather(
        *(stub.MakePayment(pay(f"tab-{i:02d}", profile, (inv.id, 10_000)), **as_(user(A))) for i in range(1, 20)),
        return_exceptions=True,
    )
    assert (await first).payment.status == "succeeded"
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in others), others
    assert {r.code() for r in others} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert all("in progress" in r.details() or "nothing left to pay" in r.details() for r in others)
    assert len(sandbox.charges) == 1
    async with db.unit_of_work() as s:
        assert [p.status for p in await s.scalars(select(Payment))] == ["succeeded"]
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(user(A)))
    assert (overview.invoice_balance.amount_minor, overview.credit_balance.amount_minor) == (0, 0)


async def test_a_payment_in_progress_leaves_the_rest_of_the_balance_payable(stub, as_, sandbox):
    inv = await new_invoice(stub, as_, A, ("Labour", "1", 10_000))
    profile = await card(stub, as_, sandbox, A)
    sandbox.mode, sandbox.times, sandbox.delay = "timeout", 1, 0.5
    first = asyncio.ensure_future(stub.MakePayment(pay("part-1", profile, (inv.id, 6_000)), **as_(user(A))))
    await charge_started(sandbox)
    too_much = await rpc_error(stub.MakePayment(pay("part-2", profile, (inv.id, 4_001)), **as_(user(A))))
    assert too_much.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "in progress" in too_much.details() and "40.00 USD" in too_much.details()
    rest = await stub.MakePayment(pay("part-3", profile, (inv.id, 4_000)), **as_(user(A)))
    assert rest.payment.status == "succeeded" and (await first).payment.status == "succeeded"
    assert len(sandbox.charges) == 2
