"""Billing test data through the real APIs: a fresh customer with an admin portal user, and staff-made invoices
and estimates for it (identity's and billing's staff RPCs, as the seed uses them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc

from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.stack import Stack


@dataclass(frozen=True)
class BillingCustomer:
    customer_id: str
    login: str
    password: str
    business_name: str


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def staff_token(stack: Stack) -> str:
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        signed = stub.SignIn(
            identity_pb2.SignInRequest(
                login=stack.config.staff_email,
                password=stack.config.staff_password,
                audience=identity_pb2.AUDIENCE_STAFF,
            ),
            timeout=10,
        )
        return stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=10
        ).principal_token


def new_customer(stack: Stack, token: str) -> BillingCustomer:
    slug = uuid.uuid4().hex[:8]
    name, login, password = f"Billing Test {slug}", f"payer-{slug}@example.test", f"pw-{slug}-long-enough"
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        customer = stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(
                business_name=name, email=f"office-{slug}@example.test", idempotency_key=f"bill-{slug}"
            ),
            timeout=10,
            metadata=_md(token),
        ).customer
        contact = stub.CreateContact(
            identity_pb2.CreateContactRequest(
                customer_id=customer.id, name="Pat Payer", email=login, idempotency_key=f"bill-ctc-{slug}"
            ),
            timeout=10,
            metadata=_md(token),
        ).contact
        stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=customer.id, contact_id=contact.id, login=login, email=login, password=password
            ),
            timeout=10,
            metadata=_md(token),
        )
    return BillingCustomer(customer.id, login, password, name)


def invoice(stack: Stack, token: str, customer_id: str, issued_on: str, *lines: tuple[str, int]):  # noqa: ANN201
    with grpc.insecure_channel(stack.grpc_addr("billing")) as ch:
        return (
            billing_pb2_grpc.BillingServiceStub(ch)
            .CreateInvoice(
                billing_pb2.CreateInvoiceRequest(
                    customer_id=customer_id,
                    issued_on=issued_on,
                    currency="USD",
                    lines=[billing_pb2.LineInput(description=d, quantity="1", unit_price_minor=p) for d, p in lines],
                ),
                timeout=10,
                metadata=_md(token),
            )
            .invoice
        )


def estimate(stack: Stack, token: str, customer_id: str, name: str, *lines: tuple[str, int]):  # noqa: ANN201
    with grpc.insecure_channel(stack.grpc_addr("billing")) as ch:
        return (
            billing_pb2_grpc.BillingServiceStub(ch)
            .CreateEstimate(
                billing_pb2.CreateEstimateRequest(
                    customer_id=customer_id,
                    name=name,
                    currency="USD",
                    lines=[billing_pb2.LineInput(description=d, quantity="1", unit_price_minor=p) for d, p in lines],
                ),
                timeout=10,
                metadata=_md(token),
            )
            .estimate
        )
