"""The demo customers, each with a contact and a portal user, created by the staff user through identity."""

from __future__ import annotations

from dataclasses import dataclass

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.seed.rpc import call

# The demo customers' tax and terms, set where they live (identity's customer settings); billing learns them by event.
DEMO_TAX_RATE_BP = 825
DEMO_TERMS_DAYS = 30


@dataclass(frozen=True)
class DemoCustomer:
    slug: str
    business_name: str
    email: str
    contact_name: str
    login: str
    password: str
    tickets: tuple[tuple[str, str], ...]  # (subject, description)


DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        slug="acme",
        business_name="Acme Dental",
        email="office@acme.test",
        contact_name="Alice Moreno",
        login="alice@acme.test",
        password="demo-acme-123",  # noqa: S106 (published demo login)
        tickets=(
            (
                "Front desk printer jams on every second page",
                "The HP printer at reception jams when printing appointment letters.",
            ),
            (
                "New hygienist needs an email account",
                "Maria starts on Monday and needs an email account and access to the schedule.",
            ),
            (
                "X-ray workstation is slow after updates",
                "Since last week's updates the imaging software takes minutes to open.",
            ),
        ),
    ),
    DemoCustomer(
        slug="blueharbor",
        business_name="Blue Harbor Logistics",
        email="it@blueharbor.test",
        contact_name="Bob Lindqvist",
        login="bob@blueharbor.test",
        password="demo-blue-123",  # noqa: S106 (published demo login)
        tickets=(
            (
                "VPN drops every few minutes at the warehouse",
                "Scanners in the warehouse lose the connection to the office server several times an hour.",
            ),
            (
                "Replace the battery in the dispatch UPS",
                "The UPS in the dispatch office beeps and reports a failed battery self-test.",
            ),
        ),
    ),
)


def seed_customers(identity: identity_pb2_grpc.IdentityServiceStub, staff_token: str) -> int:
    """The demo customers with their contact and portal user; the number of customers created."""
    for demo in DEMO_CUSTOMERS:
        customer = call(
            identity.CreateCustomer,
            identity_pb2.CreateCustomerRequest(
                business_name=demo.business_name,
                email=demo.email,
                idempotency_key=f"seed-customer-{demo.slug}",
                settings=identity_pb2.CustomerSettings(
                    tax_rate_bp=DEMO_TAX_RATE_BP,
                    invoice_terms_days=DEMO_TERMS_DAYS,
                    receive_billing_emails=True,
                    receive_marketing_emails=True,
                    receive_report_emails=True,
                ),
            ),
            f"CreateCustomer({demo.business_name})",
            staff_token,
        ).customer
        contact = call(
            identity.CreateContact,
            identity_pb2.CreateContactRequest(
                customer_id=customer.id,
                name=demo.contact_name,
                email=demo.login,
                idempotency_key=f"seed-contact-{demo.slug}",
            ),
            f"CreateContact({demo.contact_name})",
            staff_token,
        ).contact
        call(
            identity.CreatePortalUser,
            identity_pb2.CreatePortalUserRequest(
                customer_id=customer.id,
                contact_id=contact.id,
                login=demo.login,
                email=demo.login,
                password=demo.password,
            ),
            f"CreatePortalUser({demo.login})",
            staff_token,
        )
    return len(DEMO_CUSTOMERS)
