"""Demo documents and shared credentials for the first demo customer, made as staff would through the gateway's staff
JSON API, so the portal's Documents and Credentials pages (and the home's sections for them) are not empty in a
fresh `make run`.

Runs on every `make run`: what exists (by file name, by credential name) is kept, and each create carries an
Idempotency-Key, so a retry never makes a second one. The demo passwords are made up for the demo and are only ever
shown by the portal's Reveal.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from portal_local.seed.identity import DEMO_CUSTOMERS
from portal_local.seed.staff_api import StaffApi, customer_id, items, signed_in
from portal_local.stack import Stack

CONTENT_CUSTOMER = DEMO_CUSTOMERS[0]


@dataclass(frozen=True)
class DemoDocument:
    filename: str
    text: str


@dataclass(frozen=True)
class DemoCredential:
    name: str
    username: str
    url: str
    password: str
    notes: str = ""


DEMO_DOCUMENTS: tuple[DemoDocument, ...] = (
    DemoDocument(
        "Network diagram notes.txt",
        "Front desk and reception share the office switch; the printer is on 192.0.2.20.\n",
    ),
    DemoDocument(
        "Backup policy.txt",
        "Nightly backups at 01:00, kept 30 days; a restore test on the first Monday of each month.\n",
    ),
)

DEMO_CREDENTIALS: tuple[DemoCredential, ...] = (
    DemoCredential("Office Wi-Fi", "", "wifi.example", "demo-wifi-passphrase", "The guest network has no password."),
    DemoCredential("Practice software admin", "admin", "https://practice.example", "demo-admin-password"),
)


def seed_content(stack: Stack) -> tuple[int, int]:
    """Make (or find) the demo documents and credentials; returns how many of each the customer has from the seed."""
    api = signed_in(stack, "demo documents and credentials")
    customer = customer_id(api, CONTENT_CUSTOMER)
    return _ensure_documents(api, customer), _ensure_credentials(api, customer)


def _ensure_documents(api: StaffApi, customer: str) -> int:
    path = f"/api/v1/staff/customers/{urllib.parse.quote(customer, safe='')}/documents"
    have = {d.get("filename") for d in items(api.call("GET", f"{path}?page_size=100"), api.what)}
    for i, doc in enumerate(DEMO_DOCUMENTS):
        if doc.filename in have:
            continue
        api.upload(
            path,
            doc.filename,
            doc.text.encode(),
            {"visibility": "public"},
            idempotency_key=f"seed-document-{i:02d}-{customer}"[:64],
        )
    return len(DEMO_DOCUMENTS)


def _ensure_credentials(api: StaffApi, customer: str) -> int:
    query = urllib.parse.urlencode({"customer_id": customer, "page_size": 100})
    have = {c.get("name") for c in items(api.call("GET", f"/api/v1/staff/credentials?{query}"), api.what)}
    for i, cred in enumerate(DEMO_CREDENTIALS):
        if cred.name in have:
            continue
        api.call(
            "POST",
            "/api/v1/staff/credentials",
            {
                "customer_id": customer,
                "name": cred.name,
                "username": cred.username,
                "url": cred.url,
                "notes": cred.notes,
                "password": cred.password,
                "public": True,
            },
            idempotency_key=f"seed-credential-{i:02d}-{customer}"[:64],
        )
    return len(DEMO_CREDENTIALS)
