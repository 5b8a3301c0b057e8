"""Issue 4 end to end, real processes: billing's invoice for a ticket puts "Invoiced INV-…" on the portal ticket
page, the ticket list, the home page and the JSON (T1); a ticket's site and asset must be its customer's, checked by
tickets with assets over gRPC (T3, T8), for portal users and for the staff API, whose answer carries the customer's
internal ticket warning (T3, C3)."""

from __future__ import annotations

import re
import time
import uuid

import grpc

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.helpers import ACME, BLUE, api, api_sign_in
from tests.e2e.test_tickets_private_notes import page_client, staff_token


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def invoice_for(stack, customer_id: str, ticket_id: str) -> billing_pb2.Invoice:  # noqa: ANN001
    with grpc.insecure_channel(stack.grpc_addr("billing")) as ch:
        return (
            billing_pb2_grpc.BillingServiceStub(ch)
            .CreateInvoice(
                billing_pb2.CreateInvoiceRequest(
                    customer_id=customer_id,
                    ticket_id=ticket_id,
                    currency="USD",
                    lines=[billing_pb2.LineInput(description="On-site repair", quantity="1", unit_price_minor=9_000)],
                ),
                timeout=10,
                metadata=_md(staff_token(stack)),
            )
            .invoice
        )


def site_and_asset(stack, customer_id: str) -> tuple[str, str]:  # noqa: ANN001
    md = _md(staff_token(stack))
    with grpc.insecure_channel(stack.grpc_addr("assets")) as ch:
        stub = assets_pb2_grpc.AssetsServiceStub(ch)
        req = assets_pb2.CreateSiteRequest(customer_id=customer_id, name="Head office")
        site = stub.CreateSite(req, timeout=10, metadata=md)
        asset = stub.CreateAsset(
            assets_pb2.CreateAssetRequest(customer_id=customer_id, name="Reception printer", site_id=site.site.id),
            timeout=10,
            metadata=md,
        )
    return site.site.id, asset.asset.id


def new_ticket(stack, token: str, **fields: str) -> dict:  # noqa: ANN001
    body = {"subject": f"Probe {uuid.uuid4().hex[:8]}", "description": "Made by an end-to-end test.", **fields}
    with api(stack, token) as c:
        r = c.post("/api/v1/tickets", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def staff_api_token(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def wait_invoiced(stack, token: str, ticket_id: str, number: str, limit: float = 30.0) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + limit
    with api(stack, token) as c:
        while True:
            got = c.get(f"/api/v1/tickets/{ticket_id}").json()
            if got.get("invoice_number") == number or time.monotonic() > deadline:
                return got
            time.sleep(0.2)


def test_an_invoice_for_a_ticket_marks_it_invoiced_everywhere_the_portal_shows_it(stack) -> None:  # noqa: ANN001
    acme = api_sign_in(stack, ACME.login, ACME.password)
    blue = api_sign_in(stack, BLUE.login, BLUE.password)
    billed, untouched = new_ticket(stack, acme), new_ticket(stack, acme)
    blue_customer = new_ticket(stack, blue)["customer_id"]

    # Billing's invoice for another customer naming ACME's ticket: ignored (events are handled in order, so once
    # the later invoice shows, this one has been handled too).
    invoice_for(stack, blue_customer, untouched["id"])
    inv = invoice_for(stack, billed["customer_id"], billed["id"])
    got = wait_invoiced(stack, acme, billed["id"], inv.number)
    assert (got["invoice_id"], got["invoice_number"]) == (inv.id, inv.number)
    with api(stack, acme) as c:
        assert c.get(f"/api/v1/tickets/{untouched['id']}").json()["invoice_number"] == ""
        listed = {t["id"]: t for t in c.get("/api/v1/tickets", params={"q": billed["subject"]}).json()["items"]}
        assert listed[billed["id"]]["invoice_number"] == inv.number
        spec = c.get("/api/v1/openapi.json").json()
    assert {"invoice_id", "invoice_number"} <= set(spec["components"]["schemas"]["Ticket"]["properties"])

    marker = f"Invoiced {inv.number}"
    with page_client(stack, acme) as c:
        assert marker in c.get(f"/tickets/{billed['id']}").text
        assert marker in c.get("/tickets", params={"q": billed["subject"]}).text
        assert "Invoiced" not in c.get(f"/tickets/{untouched['id']}").text
        home = c.get("/").text
    if billed["subject"] in home:  # the home section shows the five most recent open tickets
        assert marker in home
    with page_client(stack, acme) as c:
        assert f"Facturé {inv.number}" in c.get(f"/tickets/{billed['id']}", headers={"Accept-Language": "fr"}).text


def test_a_tickets_site_and_asset_must_be_the_customers_own(stack) -> None:  # noqa: ANN001
    acme = api_sign_in(stack, ACME.login, ACME.password)
    acme_customer = new_ticket(stack, acme)["customer_id"]
    blue_customer = new_ticket(stack, api_sign_in(stack, BLUE.login, BLUE.password))["customer_id"]
    acme_site, acme_asset = site_and_asset(stack, acme_customer)
    blue_site, blue_asset = site_and_asset(stack, blue_customer)

    ok = new_ticket(stack, acme, site_id=acme_site, asset_id=acme_asset)
    assert (ok["site_id"], ok["asset_id"]) == (acme_site, acme_asset)
    with api(stack, acme) as c:
        listed = c.get("/api/v1/tickets", params={"asset_id": acme_asset}).json()["items"]
        assert [t["id"] for t in listed] == [ok["id"]]
        before = len(c.get("/api/v1/tickets", params={"page_size": 100}).json()["items"])
        for field, value in (("asset_id", blue_asset), ("site_id", blue_site), ("asset_id", "nope")):
            r = c.post("/api/v1/tickets", json={"subject": "Not mine", "description": "d", field: value})
            assert r.status_code == 400, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            problem = r.json()
            assert problem["errors"] == [{"field": field, "message": f"no such {field[:-3]} for this customer"}]
        assert len(c.get("/api/v1/tickets", params={"page_size": 100}).json()["items"]) == before

    # The staff API: the customer is named, and its own equipment only.
    staff = staff_api_token(stack)
    with api(stack, staff) as c:
        body = {"customer_id": acme_customer, "subject": "Staff probe", "description": "d"}
        r = c.post("/api/v1/staff/tickets", json={**body, "asset_id": blue_asset})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "asset_id", r.text
        r = c.post("/api/v1/staff/tickets", json={**body, "site_id": acme_site, "asset_id": acme_asset})
        assert r.status_code == 201, r.text
        made = r.json()["ticket"]
        assert (made["customer_id"], made["site_id"], made["asset_id"]) == (acme_customer, acme_site, acme_asset)
    # A portal session never uses the staff API.
    with api(stack, acme) as c:
        assert c.post("/api/v1/staff/tickets", json=body).status_code == 403


def test_staff_see_the_customers_internal_ticket_warning_on_a_new_ticket(stack) -> None:  # noqa: ANN001
    warning = f"Always call the office manager first ({uuid.uuid4().hex[:6]})"
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        md = _md(staff_token(stack))
        tag = uuid.uuid4().hex[:8]
        warned = stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(
                business_name=f"Warned {tag}",
                email=f"warned-{tag}@example.test",
                settings=identity_pb2.CustomerSettings(internal_ticket_warning=warning),
            ),
            timeout=10,
            metadata=md,
        ).customer
        plain = stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(business_name=f"Plain {tag}", email=f"plain-{tag}@example.test"),
            timeout=10,
            metadata=md,
        ).customer
    with api(stack, staff_api_token(stack)) as c:
        r = c.post("/api/v1/staff/tickets", json={"customer_id": warned.id, "subject": "Printer", "description": "d"})
        assert r.status_code == 201, r.text
        assert r.json()["warning"] == warning
        r = c.post("/api/v1/staff/tickets", json={"customer_id": plain.id, "subject": "Printer", "description": "d"})
        assert r.status_code == 201 and r.json()["warning"] is None, r.text


def test_the_new_ticket_form_offers_the_customers_own_assets_only(stack) -> None:  # noqa: ANN001
    acme = api_sign_in(stack, ACME.login, ACME.password)
    acme_customer = new_ticket(stack, acme)["customer_id"]
    blue_customer = new_ticket(stack, api_sign_in(stack, BLUE.login, BLUE.password))["customer_id"]
    acme_site, acme_asset = site_and_asset(stack, acme_customer)
    _, blue_asset = site_and_asset(stack, blue_customer)
    with page_client(stack, acme) as c:
        form = c.get("/tickets/new").text
        assert f'value="{acme_asset}"' in form and f'value="{blue_asset}"' not in form
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)
        fields = {"csrf_token": csrf, "idempotency_key": key, "subject": "Jammed", "description": "Again."}
        # A forged choice of another customer's asset: the form says so, and no ticket is made.
        r = c.post("/tickets/new", data={**fields, "asset_id": blue_asset})
        assert r.status_code == 400 and "Choose one of your own assets." in r.text
        r = c.post("/tickets/new", data={**fields, "asset_id": acme_asset})
        assert r.status_code == 303, r.text
        ticket_id = r.headers["location"].rsplit("/", 1)[1]
    with api(stack, acme) as c:
        made = c.get(f"/api/v1/tickets/{ticket_id}").json()
    # The ticket is at the asset's site.
    assert (made["asset_id"], made["site_id"]) == (acme_asset, acme_site)
