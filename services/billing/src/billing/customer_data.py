"""CustomerDataService of billing: how many records it holds for a customer, so identity deletes a customer
only when nothing here belongs to it (SPEC C5). Every table with a customer_id column counts."""

from __future__ import annotations

from billing.db import Base
from servicekit import customer_data
from servicekit.app import Wiring
from servicekit.db import Database

KINDS = {
    "invoices": "invoices",
    "estimates": "estimates",
    "payments": "payments",
    "payment_profiles": "stored payment options",
    "credit_entries": "store credit entries",
}
# Tax rate and terms only configure the customer; they do not stop a delete.
SETTINGS: tuple[str, ...] = ("customer_billing",)


def include(wiring: Wiring, db: Database) -> Wiring:
    """`wiring` with CustomerDataService served next to the billing service."""
    servicer = customer_data.CustomerDataServicer(
        db, service="billing", metadata=Base.metadata, kinds=KINDS, settings=SETTINGS
    )
    return customer_data.include(wiring, servicer)
