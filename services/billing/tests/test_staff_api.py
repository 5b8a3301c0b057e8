"""Billing's staff RPCs as the staff JSON API uses them: reading a customer's settings (which only identity's events
set), one customer's invoices and estimates, and idempotency keys on CreateInvoice, CreateEstimate and
AddStoreCredit (one record per key, also when the same key arrives many times at once). SQLite and PostgreSQL
(the `db_url` fixture)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import func, select

from billing.credit.models import CreditEntry
from billing.estimates.models import Estimate
from billing.invoices.models import Invoice
from portal.billing.v1 import billing_pb2
from portal.common.v1 import common_pb2
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.outbox_tables import outbox
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

A, B = "cust-a", "cust-b"
STAFF = Principal(kind=KIND_STAFF, subject_id="admin-1", staff_role="admin")
LINES = [
    billing_pb2.LineInput(description="Labour", quantity="1.5", unit_price_minor=8_000),
    billing_pb2.LineInput(description="Router", quantity="1", unit_price_minor=4_999),
]


def user(customer_id: str) -> Principal:
    return Principal(
        kind=KIND_PORTAL_USER,
        subject_id=f"u-{customer_id}",
        customer_id=customer_id,
        permissions=frozenset(perm.CATALOGUE),
    )


@pytest.fixture
def as_(token):  # noqa: ANN001, ANN201
    return lambda principal: call_options(token(principal))


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def count(db, model) -> int:  # noqa: ANN001
    async with db.unit_of_work() as s:
        return int(await s.scalar(select(func.count()).select_from(model)))


async def test_settings_read_back_as_defaults_then_as_identity_set_them(stub, as_, customer_settings):
    def read(customer_id: str):  # noqa: ANN202
        req = billing_pb2.GetCustomerBillingSettingsRequest(customer_id=customer_id)
        return stub.GetCustomerBillingSettings(req, **as_(STAFF))

    got = (await read(A)).settings
    assert (got.tax_rate_bp, got.tax_free, got.terms_days, got.configured) == (0, False, 30, False)
    await customer_settings(A, tax_rate_bp=825, terms_days=14)
    got = (await read(A)).settings
    assert (got.customer_id, got.tax_rate_bp, got.tax_free, got.terms_days, got.configured) == (A, 825, False, 14, True)
    assert (await read(B)).settings.configured is False


async def test_settings_are_staff_only_and_read_only(stub, as_):
    read = billing_pb2.GetCustomerBillingSettingsRequest(customer_id=A)
    err = await rpc_error(stub.GetCustomerBillingSettings(read, **as_(user(A))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(
        stub.GetCustomerBillingSettings(billing_pb2.GetCustomerBillingSettingsRequest(), **as_(STAFF))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Identity's customer settings are the one source: billing has no RPC that sets them.
    assert "SetCustomerBillingSettings" not in billing_pb2.DESCRIPTOR.services_by_name["BillingService"].methods_by_name


async def test_one_invoice_per_key_and_a_key_reused_for_another_invoice_is_refused(stub, as_, db):
    req = billing_pb2.CreateInvoiceRequest(customer_id=A, currency="USD", lines=LINES, idempotency_key="k" * 20)
    first = await stub.CreateInvoice(req, **as_(STAFF))
    again = await stub.CreateInvoice(req, **as_(STAFF))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.invoice == first.invoice
    assert first.invoice.subtotal.amount_minor == 12_000 + 4_999
    assert await count(db, Invoice) == 1
    async with db.unit_of_work() as s:
        assert await s.scalar(select(func.count()).select_from(outbox)) == 1, "invoice_created once"
    other = billing_pb2.CreateInvoiceRequest(customer_id=B, currency="USD", lines=LINES, idempotency_key="k" * 20)
    err = await rpc_error(stub.CreateInvoice(other, **as_(STAFF)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    without = billing_pb2.CreateInvoiceRequest(customer_id=A, currency="USD", lines=LINES)
    await stub.CreateInvoice(without, **as_(STAFF))
    await stub.CreateInvoice(without, **as_(STAFF))
    assert await count(db, Invoice) == 3, "no key: no idempotency, as before"


async def test_twenty_concurrent_requests_with_one_key_make_one_invoice(stub, as_, db):
    req = billing_pb2.CreateInvoiceRequest(customer_id=A, currency="USD", lines=LINES, idempotency_key="c" * 24)
    answers = await asyncio.gather(*(stub.CreateInvoice(req, **as_(STAFF)) for _ in range(20)))
    assert len({a.invoice.id for a in answers}) == 1
    assert sum(not a.replayed for a in answers) == 1
    assert await count(db, Invoice) == 1


async def test_one_estimate_per_key(stub, as_, db):
    req = billing_pb2.CreateEstimateRequest(customer_id=A, name="New firewall", lines=LINES, idempotency_key="e" * 20)
    answers = await asyncio.gather(*(stub.CreateEstimate(req, **as_(STAFF)) for _ in range(5)))
    assert len({a.estimate.id for a in answers}) == 1 and sum(not a.replayed for a in answers) == 1
    assert answers[0].estimate.status == "open" and answers[0].estimate.sent_on
    assert await count(db, Estimate) == 1
    renamed = billing_pb2.CreateEstimateRequest(customer_id=A, name="Other", lines=LINES, idempotency_key="e" * 20)
    assert (await rpc_error(stub.CreateEstimate(renamed, **as_(STAFF)))).code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_store_credit_is_added_once_per_key(stub, as_, db):
    money = common_pb2.Money(amount_minor=2_500, currency="USD")
    req = billing_pb2.AddStoreCreditRequest(
        customer_id=A, amount=money, reference="RMA-9", message="Returned router", idempotency_key="s" * 20
    )
    answers = await asyncio.gather(*(stub.AddStoreCredit(req, **as_(STAFF)) for _ in range(5)))
    assert {a.credit_balance.amount_minor for a in answers} == {2_500}
    assert len({a.entry_id for a in answers}) == 1 and sum(not a.replayed for a in answers) == 1
    assert await count(db, CreditEntry) == 1
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **as_(user(A)))
    assert overview.credit_balance.amount_minor == 2_500
    more = billing_pb2.AddStoreCreditRequest(customer_id=A, amount=money, reference="RMA-9", idempotency_key="t" * 20)
    assert (await stub.AddStoreCredit(more, **as_(STAFF))).credit_balance.amount_minor == 5_000


async def test_staff_list_one_customers_invoices_and_estimates(stub, as_):
    for customer in (A, B, A):
        await stub.CreateInvoice(billing_pb2.CreateInvoiceRequest(customer_id=customer, lines=LINES), **as_(STAFF))
        await stub.CreateEstimate(
            billing_pb2.CreateEstimateRequest(customer_id=customer, name="Quote", lines=LINES), **as_(STAFF)
        )
    everyone = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(), **as_(STAFF))
    assert len(everyone.invoices) == 3
    only_a = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(customer_id=A), **as_(STAFF))
    assert [i.customer_id for i in only_a.invoices] == [A, A]
    estimates = await stub.ListEstimates(billing_pb2.ListEstimatesRequest(customer_id=B), **as_(STAFF))
    assert [e.customer_id for e in estimates.estimates] == [B]
    # The filter narrows what a portal user sees; it never shows another customer's.
    widened = await stub.ListInvoices(billing_pb2.ListInvoicesRequest(customer_id=B), **as_(user(A)))
    assert list(widened.invoices) == []
    widened = await stub.ListEstimates(billing_pb2.ListEstimatesRequest(customer_id=B), **as_(user(A)))
    assert list(widened.estimates) == []
