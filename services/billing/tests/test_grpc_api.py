"""BillingService over a real localhost gRPC socket with principal tokens, as the gateway calls it."""

from __future__ import annotations

from datetime import date

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.billing.v1 import billing_pb2
from portal.common.v1 import common_pb2
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, Principal, TokenSigner

A, B = "cust-a", "cust-b"
USER_A = Principal(
    kind=KIND_PORTAL_USER, subject_id="ua", customer_id=A, permissions=frozenset({perm.INVOICES_VIEW_ALL})
)
USER_B = Principal(
    kind=KIND_PORTAL_USER, subject_id="ub", customer_id=B, permissions=frozenset({perm.INVOICES_VIEW_ALL})
)


def request(page_size: int = 0, cursor: str = "") -> billing_pb2.ListOpenInvoicesRequest:
    return billing_pb2.ListOpenInvoicesRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_without_a_token_the_call_is_unauthenticated(stub):
    err = await rpc_error(stub.ListOpenInvoices(request(), **call_options(None)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_signed_by_another_key_is_unauthenticated(stub):
    forged, _ = TokenSigner(Ed25519PrivateKey.generate()).sign(USER_A)
    err = await rpc_error(stub.ListOpenInvoices(request(), **call_options(forged)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_each_customer_sees_only_its_own_invoices(stub, seed, make_invoice, token):
    await seed(make_invoice(A, number="A-1"), make_invoice(B, number="B-1"))
    resp_b = await stub.ListOpenInvoices(request(), **call_options(token(USER_B)))
    assert [inv.number for inv in resp_b.invoices] == ["B-1"]
    resp_a = await stub.ListOpenInvoices(request(), **call_options(token(USER_A)))
    assert [inv.number for inv in resp_a.invoices] == ["A-1"]


async def test_a_group_with_neither_invoice_permission_is_denied(stub, token):
    tickets_only = Principal(
        kind=KIND_PORTAL_USER, subject_id="u", customer_id=A, permissions=frozenset({perm.TICKETS_VIEW_MINE})
    )
    err = await rpc_error(stub.ListOpenInvoices(request(), **call_options(token(tickets_only))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("page", [request(cursor="not a cursor"), request(page_size=-1)], ids=["cursor", "page_size"])
async def test_bad_paging_is_invalid_argument(stub, token, page):
    err = await rpc_error(stub.ListOpenInvoices(page, **call_options(token(USER_A))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_invoice_as_the_portal_shows_it(stub, seed, make_invoice, token):
    await seed(
        make_invoice(
            A,
            number="INV-7",
            contact_id="ctc-1",
            issued_on=date(2026, 2, 3),
            due_on=date(2026, 3, 5),
            currency="EUR",
            total_minor=123_45,
            balance_minor=23_45,
            lines=("Labour", "Router", "Cable", "Fee"),
        )
    )
    (inv,) = (await stub.ListOpenInvoices(request(), **call_options(token(USER_A)))).invoices
    assert (inv.number, inv.customer_id, inv.contact_id, inv.status) == ("INV-7", A, "ctc-1", "open")
    assert (inv.issued_on, inv.due_on) == ("2026-02-03", "2026-03-05")
    assert inv.items_summary == "Labour, Router, Cable +1 more"
    assert inv.total == common_pb2.Money(amount_minor=12345, currency="EUR")
    assert inv.balance_due == common_pb2.Money(amount_minor=2345, currency="EUR")


async def test_pages_walk_every_open_invoice_once_oldest_first(stub, seed, make_invoice, token):
    invoices = [make_invoice(A, issued_on=date(2026, 1, 1 + i % 3)) for i in range(7)]
    await seed(*invoices, make_invoice(B))
    expected = [inv.number for inv in sorted(invoices, key=lambda inv: (inv.issued_on, inv.id))]

    seen, cursor = [], ""
    while True:
        resp = await stub.ListOpenInvoices(request(page_size=2, cursor=cursor), **call_options(token(USER_A)))
        assert len(resp.invoices) <= 2
        seen += [inv.number for inv in resp.invoices]
        cursor = resp.page.next_cursor
        if not cursor:
            break
    assert seen == expected


# --- the portal home's billing sections in one call -------------------------------------------------------


def summary_user(customer: str, *permissions: str) -> Principal:
    return Principal(kind=KIND_PORTAL_USER, subject_id="us", customer_id=customer, permissions=frozenset(permissions))


async def test_the_portal_summary_fills_only_the_sections_the_group_shows(stub, seed, make_invoice, token):
    await seed(make_invoice(A, number="A-1", balance_minor=40_00), make_invoice(B, number="B-1"))
    summary = billing_pb2.GetPortalSummaryRequest()

    everything = summary_user(
        A,
        perm.ACCOUNT_OVERVIEW_VIEW,
        perm.INVOICES_VIEW_ALL,
        perm.PAYMENTS_VIEW_ALL,
        perm.ESTIMATES_VIEW_ALL,
    )
    resp = await stub.GetPortalSummary(summary, **call_options(token(everything)))
    assert (resp.overview_shown, resp.invoices_shown, resp.payments_shown, resp.estimates_shown) == (True,) * 4
    assert [inv.number for inv in resp.open_invoices] == ["A-1"]
    overview = await stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), **call_options(token(everything)))
    assert (resp.invoice_balance, resp.credit_balance, resp.open_invoice_count) == (
        overview.invoice_balance,
        overview.credit_balance,
        overview.open_invoices,
    )
    assert resp.invoice_balance.amount_minor == 40_00
    assert not resp.recent_payments and not resp.estimates

    invoices_only = await stub.GetPortalSummary(summary, **call_options(token(summary_user(A, perm.INVOICES_VIEW_ALL))))
    assert (invoices_only.overview_shown, invoices_only.payments_shown, invoices_only.estimates_shown) == (False,) * 3
    assert not invoices_only.HasField("invoice_balance")
    assert [inv.number for inv in invoices_only.open_invoices] == ["A-1"]

    # A group that shows no billing section is answered, not refused: the home simply has no billing sections.
    nothing = await stub.GetPortalSummary(summary, **call_options(token(summary_user(A, perm.TICKETS_VIEW_ALL))))
    assert nothing == billing_pb2.GetPortalSummaryResponse()


async def test_the_portal_summary_never_shows_another_customers_invoices(stub, seed, make_invoice, token):
    await seed(make_invoice(A, number="A-1", balance_minor=70_00))
    resp = await stub.GetPortalSummary(
        billing_pb2.GetPortalSummaryRequest(),
        **call_options(token(summary_user(B, perm.ACCOUNT_OVERVIEW_VIEW, perm.INVOICES_VIEW_ALL))),
    )
    assert resp.invoices_shown and not resp.open_invoices
    assert resp.invoice_balance.amount_minor == 0 and resp.open_invoice_count == 0


async def test_the_portal_summary_without_a_token_is_unauthenticated(stub):
    err = await rpc_error(stub.GetPortalSummary(billing_pb2.GetPortalSummaryRequest(), **call_options(None)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
