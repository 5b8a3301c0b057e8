"""CustomerDataService of assets: how many records it holds for a customer, so identity deletes a customer
only when nothing here belongs to it (SPEC C5). Every table with a customer_id column counts."""

from __future__ import annotations

from assets.db import Base
from servicekit import customer_data
from servicekit.app import Wiring
from servicekit.db import Database

KINDS = {"assets": "assets", "credentials": "credentials", "credential_access": "credential reveals"}
SETTINGS: tuple[str, ...] = ()


def include(wiring: Wiring, db: Database) -> Wiring:
    """`wiring` with CustomerDataService served next to the assets service."""
    servicer = customer_data.CustomerDataServicer(
        db, service="assets", metadata=Base.metadata, kinds=KINDS, settings=SETTINGS
    )
    return customer_data.include(wiring, servicer)
