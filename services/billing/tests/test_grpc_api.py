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
