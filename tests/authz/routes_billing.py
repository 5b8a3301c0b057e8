"""The billing routes in the authorisation matrix (see harness.py): pages under /billing and the JSON API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import grpc
import httpx

from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit import permissions as perm
from tests.authz.harness import Route

INVOICES = (perm.INVOICES_VIEW_ALL, perm.INVOICES_VIEW_MINE)
PAYMENTS = (perm.PAYMENTS_VIEW_ALL, perm.PAYMENTS_VIEW_MINE)
ESTIMATES = (perm.ESTIMATES_VIEW_ALL, perm.ESTIMATES_VIEW_MINE)
PAY = (perm.INVOICES_PAY_ONLINE,)
OPTIONS = (perm.PAYMENT_OPTIONS_MANAGE,)
ANY_BILLING = (perm.ACCOUNT_OVERVIEW_VIEW, *INVOICES, *PAYMENTS, *ESTIMATES)
LINE = billing_pb2.LineInput(description="Authorisation probe", quantity="1", unit_price_minor=1_000)


def _stub(addr, token: str):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(addr("billing"), options=[("grpc.enable_http_proxy", 0)])
    return channel, billing_pb2_grpc.BillingServiceStub(channel), (("authorization", f"Bearer {token}"),)


def _staff_stub(world):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(world.grpc_addr("billing"), options=[("grpc.enable_http_proxy", 0)])
    return channel, billing_pb2_grpc.BillingServiceStub(channel)


def make_invoice(world, customer) -> str:  # noqa: ANN001
    channel, stub = _staff_stub(world)
    with channel:
        req = billing_pb2.CreateInvoiceRequest(
            customer_id=customer.id, contact_id=customer.contact_id, currency="USD", lines=[LINE]
        )
        return stub.CreateInvoice(req, timeout=10, metadata=world.staff_metadata()).invoice.id


def make_estimate(world, customer) -> str:  # noqa: ANN001
    channel, stub = _staff_stub(world)
    with channel:
        req = billing_pb2.CreateEstimateRequest(
            customer_id=customer.id, contact_id=customer.contact_id, name="Probe", currency="USD", lines=[LINE]
        )
        return stub.CreateEstimate(req, timeout=10, metadata=world.staff_metadata()).estimate.id


def make_profile(world, customer) -> str:  # noqa: ANN001
    """A stored card of the customer: tokenised at the processor, stored through the API by its owner."""
    with world.http(world.owner(customer), page=False) as c:
        tokenize_url = c.get("/api/v1/payment-profiles").json()["tokenize_url"]
        r = httpx.post(
            tokenize_url,
            data={"number": "4242424242424242", "exp_month": "1", "exp_year": "2032", "return_url": "http://x/"},
            trust_env=False,
        )
        token = parse_qs(urlsplit(r.headers["location"]).query)["token"][0]
        r = c.post("/api/v1/payment-profiles", json={"processor_token": token})
    assert r.status_code == 201, r.text
    return r.json()["profile"]["id"]


def make_payment(world, customer) -> str:  # noqa: ANN001
    """A payment of the customer's harness contact, made through the API: what "Check now" asks about."""
    invoice_id, profile_id = make_invoice(world, customer), make_profile(world, customer)
    with world.http(world.owner(customer), page=False) as c:
        r = c.post(
            "/api/v1/payments",
            json={"payment_profile_id": profile_id, "allocations": [{"invoice_id": invoice_id, "amount_minor": 1_000}]},
            headers={"Idempotency-Key": f"authz-payment-{invoice_id}"},
        )
    assert r.status_code == 201, r.text
    return r.json()["payment"]["id"]


def grpc_pending_payments(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListPendingPayments(billing_pb2.ListPendingPaymentsRequest(), timeout=10, metadata=md)


def grpc_check_payment(addr, token: str, payment_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.CheckPayment(billing_pb2.CheckPaymentRequest(payment_id=payment_id), timeout=10, metadata=md)


def grpc_get_invoice(addr, token: str, invoice_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetInvoice(billing_pb2.GetInvoiceRequest(invoice_id=invoice_id), timeout=10, metadata=md)


def grpc_invoice_pdf(addr, token: str, invoice_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetInvoicePdf(billing_pb2.GetInvoicePdfRequest(invoice_id=invoice_id), timeout=10, metadata=md)


def grpc_list_invoices(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListInvoices(billing_pb2.ListInvoicesRequest(), timeout=10, metadata=md)


def grpc_overview(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetAccountOverview(billing_pb2.GetAccountOverviewRequest(), timeout=10, metadata=md)


def grpc_propose(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        req = billing_pb2.ProposeAllocationRequest(amount=common_pb2.Money(amount_minor=0))
        stub.ProposeAllocation(req, timeout=10, metadata=md)


def grpc_list_payments(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListPayments(billing_pb2.ListPaymentsRequest(), timeout=10, metadata=md)


def grpc_update_profile(addr, token: str, profile_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        req = billing_pb2.UpdatePaymentProfileRequest(profile_id=profile_id, nickname="Probe")
        stub.UpdatePaymentProfile(req, timeout=10, metadata=md)


def grpc_delete_profile(addr, token: str, profile_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.DeletePaymentProfile(
            billing_pb2.DeletePaymentProfileRequest(profile_id=profile_id), timeout=10, metadata=md
        )


def profile_gone(world, customer, profile_id: str) -> None:  # noqa: ANN001
    """The owner's list of stored payment options no longer has it."""
    with world.http(world.owner(customer), page=False) as c:
        listed = c.get("/api/v1/payment-profiles").json()
    assert profile_id not in {p["id"] for p in listed.get("profiles", [])}, listed


def estimate_declined(world, customer, estimate_id: str) -> None:  # noqa: ANN001
    """The allowed decision was recorded, not merely answered."""
    channel, stub = _staff_stub(world)
    with channel:
        req = billing_pb2.GetEstimateRequest(estimate_id=estimate_id)
        status = stub.GetEstimate(req, timeout=10, metadata=world.staff_metadata()).estimate.status
    assert status == "declined", status


def grpc_decide_estimate(addr, token: str, estimate_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        req = billing_pb2.DecideEstimateRequest(estimate_id=estimate_id, approve=False)
        stub.DecideEstimate(req, timeout=10, metadata=md)


def grpc_list_estimates(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListEstimates(billing_pb2.ListEstimatesRequest(), timeout=10, metadata=md)


def grpc_get_estimate(addr, token: str, estimate_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetEstimate(billing_pb2.GetEstimateRequest(estimate_id=estimate_id), timeout=10, metadata=md)


def grpc_estimate_pdf(addr, token: str, estimate_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetEstimatePdf(billing_pb2.GetEstimatePdfRequest(estimate_id=estimate_id), timeout=10, metadata=md)


# Stripe's webhook: called by Stripe, not by a user; billing checks its signature (a bad one is a 400 and writes
# nothing: services/billing/tests/test_stripe.py, gateway/tests/test_stripe_webhook.py).
PUBLIC = {("POST", "/webhooks/stripe")}

ROUTES = [
    # Pages.
    Route("GET", "/billing", ANY_BILLING, grpc=None),
    Route("GET", "/billing/invoices", INVOICES, grpc=grpc_list_invoices),
    Route(
        "GET",
        "/billing/invoices/{invoice_id}",
        INVOICES,
        id_param="invoice_id",
        make_id=make_invoice,
        grpc=grpc_get_invoice,
    ),
    Route(
        "GET",
        "/billing/invoices/{invoice_id}/pdf",
        INVOICES,
        id_param="invoice_id",
        make_id=make_invoice,
        grpc=grpc_invoice_pdf,
    ),
    Route("GET", "/billing/pay", PAY, grpc=grpc_propose),
    # No amounts and no card: the form is reached and answered with what is missing.
    Route("POST", "/billing/pay", PAY, form={"idempotency_key": "authz-probe-pay-000001"}, ok_statuses=(400,)),
    Route("GET", "/billing/payments", PAYMENTS, grpc=grpc_list_payments),
    Route(
        "POST",
        "/billing/payments/{payment_id}/check",
        (*PAYMENTS, *PAY),
        id_param="payment_id",
        make_id=make_payment,
        form={},
        ok_statuses=(303,),
        grpc=grpc_check_payment,
    ),
    Route("GET", "/billing/payment-options", OPTIONS),
    # Back from the processor without a token: sent to the options page with a fixed message (never its words).
    Route("GET", "/billing/payment-options/added", OPTIONS, ok_statuses=(303,)),
    # Adding a card on the processor's page: with the sandbox (this world) billing says it takes a form post
    # instead, and the page answers with a message on the options page; the Stripe path is in test_stripe.py.
    Route("POST", "/billing/payment-options/setup", OPTIONS, form={"kind": "card"}, ok_statuses=(303,)),
    Route(
        "POST",
        "/billing/payment-options/{profile_id}",
        OPTIONS,
        id_param="profile_id",
        make_id=make_profile,
        form={"nickname": "Probe"},
        ok_statuses=(303,),
        grpc=grpc_update_profile,
    ),
    Route("GET", "/billing/payment-options/{profile_id}/delete", OPTIONS, id_param="profile_id", make_id=make_profile),
    Route(
        "POST",
        "/billing/payment-options/{profile_id}/delete",
        OPTIONS,
        id_param="profile_id",
        make_id=make_profile,
        form={},
        ok_statuses=(303,),
        fresh_record=True,
        effect=profile_gone,
        grpc=grpc_delete_profile,
    ),
    Route("GET", "/billing/estimates", ESTIMATES, grpc=grpc_list_estimates),
    Route(
        "GET",
        "/billing/estimates/{estimate_id}",
        ESTIMATES,
        id_param="estimate_id",
        make_id=make_estimate,
        grpc=grpc_get_estimate,
    ),
    Route(
        "GET",
        "/billing/estimates/{estimate_id}/pdf",
        ESTIMATES,
        id_param="estimate_id",
        make_id=make_estimate,
        grpc=grpc_estimate_pdf,
    ),
    Route(
        "GET",
        "/billing/estimates/{estimate_id}/decision",
        ESTIMATES,
        id_param="estimate_id",
        make_id=make_estimate,
        # Without ?decision= the confirmation sends back to the estimate's page, after billing let the user see it.
        ok_statuses=(303,),
        grpc=grpc_get_estimate,
    ),
    Route(
        "POST",
        "/billing/estimates/{estimate_id}/decision",
        ESTIMATES,
        id_param="estimate_id",
        make_id=make_estimate,
        form={"decision": "decline"},
        ok_statuses=(303,),
        fresh_record=True,
        effect=estimate_declined,
        grpc=grpc_decide_estimate,
    ),
    # JSON API.
    Route("GET", "/api/v1/billing/overview", (perm.ACCOUNT_OVERVIEW_VIEW,), grpc=grpc_overview),
    Route("GET", "/api/v1/invoices", INVOICES, grpc=grpc_list_invoices),
    Route(
        "GET",
        "/api/v1/invoices/{invoice_id}",
        INVOICES,
        id_param="invoice_id",
        make_id=make_invoice,
        grpc=grpc_get_invoice,
    ),
    Route(
        "GET",
        "/api/v1/invoices/{invoice_id}/pdf",
        INVOICES,
        id_param="invoice_id",
        make_id=make_invoice,
        grpc=grpc_invoice_pdf,
    ),
    Route("GET", "/api/v1/payments/proposal", PAY, grpc=grpc_propose),
    # Neither a stored profile nor a card token: refused as invalid once the permission is checked.
    Route(
        "POST",
        "/api/v1/payments",
        PAY,
        json={"allocations": [{"invoice_id": "x", "amount_minor": 1}]},
        headers={"Idempotency-Key": "authz-probe-payment-0001"},
        ok_statuses=(400,),
    ),
    Route("GET", "/api/v1/payments", PAYMENTS, grpc=grpc_list_payments),
    Route("GET", "/api/v1/payments/pending", (*PAYMENTS, *PAY), grpc=grpc_pending_payments),
    Route(
        "POST",
        "/api/v1/payments/{payment_id}/check",
        (*PAYMENTS, *PAY),
        id_param="payment_id",
        make_id=make_payment,
        json={},
        grpc=grpc_check_payment,
    ),
    Route("GET", "/api/v1/payment-profiles", (*OPTIONS, *PAY)),
    Route("POST", "/api/v1/payment-profiles", OPTIONS, json={"processor_token": "tok_unknown"}, ok_statuses=(400,)),
    Route(
        "PATCH",
        "/api/v1/payment-profiles/{profile_id}",
        OPTIONS,
        id_param="profile_id",
        make_id=make_profile,
        json={"nickname": "Probe"},
        grpc=grpc_update_profile,
    ),
    Route(
        "DELETE",
        "/api/v1/payment-profiles/{profile_id}",
        OPTIONS,
        id_param="profile_id",
        make_id=make_profile,
        ok_statuses=(204,),
        fresh_record=True,
        effect=profile_gone,
        grpc=grpc_delete_profile,
    ),
    Route("GET", "/api/v1/estimates", ESTIMATES, grpc=grpc_list_estimates),
    Route(
        "GET",
        "/api/v1/estimates/{estimate_id}",
        ESTIMATES,
        id_param="estimate_id",
        make_id=make_estimate,
        grpc=grpc_get_estimate,
    ),
    Route(
        "GET",
        "/api/v1/estimates/{estimate_id}/pdf",
        ESTIMATES,
        id_param="estimate_id",
        make_id=make_estimate,
        grpc=grpc_estimate_pdf,
    ),
    Route(
        "POST",
        "/api/v1/estimates/{estimate_id}/decision",
        ESTIMATES,
        id_param="estimate_id",
        make_id=make_estimate,
        json={"decision": "decline"},
        ok_statuses=(200,),
        fresh_record=True,
        effect=estimate_declined,
        grpc=grpc_decide_estimate,
    ),
]
