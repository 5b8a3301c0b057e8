"""CustomerDataService of remote: how many records it holds for a customer, so identity deletes a customer
only when nothing here belongs to it (SPEC C5). Every table with a customer_id column counts."""

from __future__ import annotations

from remote import models  # noqa: F401 - every table on Base.metadata
from remote.db import Base
from servicekit import customer_data
from servicekit.app import Wiring
from servicekit.db import Database

KINDS = {
    "script_runs": "script runs",
    "agents": "device agents",
    "remote_sessions": "remote sessions",
    "access_requests": "remote access requests",
}
# Identity's own setting mirrored here, and enrolment tokens (hashes, short-lived): neither stops a delete; both go
# with the customer's customer_deleted event.
SETTINGS: tuple[str, ...] = ("customer_settings", "enrolment_tokens")


def include(wiring: Wiring, db: Database) -> Wiring:
    """`wiring` with CustomerDataService served next to the remote service."""
    servicer = customer_data.CustomerDataServicer(
        db, service="remote", metadata=Base.metadata, kinds=KINDS, settings=SETTINGS
    )
    return customer_data.include(wiring, servicer)
