"""Billing demo data, created once with the demo customers through billing's staff RPCs: a few invoices (one paid
in part is left to the demo user) and an open estimate per demo customer. Their tax and terms are the customers'
identity settings (seed/identity.py), which billing learns by event; the invoices wait until it has."""

from __future__ import annotations

import time
from datetime import date, timedelta

from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.seed.identity import DEMO_CUSTOMERS, DEMO_TAX_RATE_BP
from portal_local.seed.rpc import SeedError, call, channel, sign_in, sign_out

# (description, quantity, unit price in cents) per invoice, oldest first; issued this many days ago.
INVOICES = (
    (75, (("Managed IT services, monthly", "1", 45_000),)),
    (45, (("On-site visit", "2", 9_500), ("Network cable, 10 m", "3", 1_250))),
    (15, (("Microsoft 365 Business Standard", "12", 1_250), ("Backup storage 1 TB", "1", 2_900))),
)
ESTIMATE = ("Office Wi-Fi refresh", (("Wi-Fi 6 access point", "4", 24_900), ("Installation", "3", 9_500)))
SETTINGS_WAIT_SECONDS = 30.0


def seed_billing(identity_addr: str, billing_addr: str, staff_email: str, staff_password: str) -> int:
    """Invoices and an estimate for each demo customer; the number of invoices created."""
    created = 0
    with channel(identity_addr) as id_channel, channel(billing_addr) as b_channel:
        identity = identity_pb2_grpc.IdentityServiceStub(id_channel)
        billing = billing_pb2_grpc.BillingServiceStub(b_channel)
        session, token = sign_in(identity, staff_email, staff_password, identity_pb2.AUDIENCE_STAFF)
        listed = call(
            identity.ListCustomers,
            identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=100)),
            "ListCustomers",
            token,
        ).customers
        ids = {c.email: c.id for c in listed}
        for demo in DEMO_CUSTOMERS:
            customer_id = ids[demo.email]
            _wait_for_settings(billing, customer_id, token)
            for days_ago, lines in INVOICES:
                call(
                    billing.CreateInvoice,
                    billing_pb2.CreateInvoiceRequest(
                        customer_id=customer_id,
                        issued_on=(date.today() - timedelta(days=days_ago)).isoformat(),
                        currency="USD",
                        lines=[
                            billing_pb2.LineInput(description=d, quantity=q, unit_price_minor=p) for d, q, p in lines
                        ],
                    ),
                    f"CreateInvoice({demo.slug})",
                    token,
                )
                created += 1
            name, lines = ESTIMATE
            call(
                billing.CreateEstimate,
                billing_pb2.CreateEstimateRequest(
                    customer_id=customer_id,
                    name=name,
                    currency="USD",
                    lines=[billing_pb2.LineInput(description=d, quantity=q, unit_price_minor=p) for d, q, p in lines],
                ),
                f"CreateEstimate({demo.slug})",
                token,
            )
        sign_out(identity, session)
    return created


def _wait_for_settings(billing: billing_pb2_grpc.BillingServiceStub, customer_id: str, token: str) -> None:
    """Until billing applies the customer's tax rate from identity's customer_updated event."""
    deadline = time.monotonic() + SETTINGS_WAIT_SECONDS
    req = billing_pb2.GetCustomerBillingSettingsRequest(customer_id=customer_id)
    while True:
        settings = call(billing.GetCustomerBillingSettings, req, "GetCustomerBillingSettings", token).settings
        if settings.tax_rate_bp == DEMO_TAX_RATE_BP:
            return
        if time.monotonic() > deadline:
            raise SeedError(f"billing did not receive customer {customer_id}'s settings from identity in time")
        time.sleep(0.1)
