"""Issue 3, customers and contacts (SPEC C1-C6) through the staff JSON API, against the whole stack: every field
and setting, custom fields with badges, subsidiaries and the "All" scope, and delete only when no service holds
data for the customer (identity asks tickets, billing, assets and remote over gRPC)."""

from __future__ import annotations

import secrets

import grpc
import pytest

from portal.common.v1 import customer_data_pb2, customer_data_pb2_grpc
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from servicekit.principal import bearer_metadata
from tests.e2e.helpers import ACME, BLUE, api, api_sign_in, principal_token

SETTINGS = {
    "tax_rate_bp": 825,
    "tax_free": False,
    "remote_access_enabled": True,
    "sms_enabled": True,
    "receive_billing_emails": True,
    "receive_marketing_emails": False,
    "receive_report_emails": True,
    "no_email": False,
    "notification_emails": ["ops@e2e-c.test"],
    "invoice_cc_emails": ["books@e2e-c.test"],
    "ticket_matching_emails": ["alerts@e2e-c.test"],
    "invoice_terms_days": 14,
    "internal_ticket_warning": "Alarm code at reception.",
}


def _staff_session(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def _staff_principal(stack) -> str:  # noqa: ANN001
    """A staff principal token from identity, as the gateway would hold it."""
    with grpc.insecure_channel(stack.grpc_addr("identity"), options=[("grpc.enable_http_proxy", 0)]) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        signed = stub.SignIn(
            identity_pb2.SignInRequest(
                login=stack.config.staff_email,
                password=stack.config.staff_password,
                audience=identity_pb2.AUDIENCE_STAFF,
            ),
            timeout=10,
        )
        resolved = stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=10
        )
    return resolved.principal_token


def _new_customer(c, **fields) -> dict:  # noqa: ANN001, ANN003
    suffix = secrets.token_hex(4)
    body = {"business_name": f"E2E Customer {suffix}", "email": f"owner-{suffix}@e2e-c.test", **fields}
    r = c.post("/api/v1/staff/customers", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _open_ticket(stack, customer_id: str) -> None:  # noqa: ANN001
    md = bearer_metadata(_staff_principal(stack))
    with grpc.insecure_channel(stack.grpc_addr("tickets"), options=[("grpc.enable_http_proxy", 0)]) as ch:
        tickets_pb2_grpc.TicketsServiceStub(ch).CreateTicket(
            tickets_pb2.CreateTicketRequest(subject="Printer jam", description="Tray 2 jams.", customer_id=customer_id),
            timeout=10,
            metadata=md,
        )


def test_staff_keep_every_field_setting_custom_field_and_contact(stack):  # noqa: ANN001
    token = _staff_session(stack)
    suffix = secrets.token_hex(3)
    with api(stack, token) as c:
        r = c.post(
            "/api/v1/staff/custom-fields",
            json={
                "name": f"Customer type {suffix}",
                "type": "dropdown",
                "options": [
                    {"value": "Residential", "badge": {"label": "RES", "color": "#2a7"}},
                    {"value": "Business", "badge": {"label": "BIZ", "color": "navy"}},
                ],
            },
        )
        assert r.status_code == 201, r.text
        kind = r.json()
        text = c.post("/api/v1/staff/custom-fields", json={"name": f"Gate code {suffix}", "type": "text"}).json()
        assert {f["id"] for f in c.get("/api/v1/staff/custom-fields").json()} >= {kind["id"], text["id"]}

        customer = _new_customer(
            c,
            business_name=f"Harbour Dental {suffix}",
            first_name="Ann",
            last_name="Lee",
            notes="Prefers mornings.",
            phones=[{"type": "work", "number": "+1 555 0100"}, {"type": "fax", "number": "+1 555 0101"}],
            addresses=[
                {"type": "billing", "line1": "1 Main St", "city": "Springfield"},
                {"type": "shipping", "line1": "Dock 4"},
                {"type": "physical", "line1": "2 Harbour Rd"},
            ],
            settings=SETTINGS,
            custom_fields=[{"field_id": kind["id"], "value": "Business"}, {"field_id": text["id"], "value": "1234"}],
        )
        got = c.get(f"/api/v1/staff/customers/{customer['id']}").json()
        assert got["display_name"] == f"Harbour Dental {suffix}", "the business name wins"
        assert [p["type"] for p in got["phones"]] == ["work", "fax"]
        assert [a["type"] for a in got["addresses"]] == ["billing", "shipping", "physical"]
        assert got["settings"] == SETTINGS and got["notes"] == "Prefers mornings."
        assert got["badges"] == [{"label": "BIZ", "color": "navy"}]
        assert {a["field_name"]: a["value"] for a in got["custom_fields"]} == {
            kind["name"]: "Business",
            text["name"]: "1234",
        }
        assert got["portal_access"] == {"enabled": False, "group_name": "", "require_mfa": False}

        # The primary email is unique among customers, whatever its case.
        dup = c.post("/api/v1/staff/customers", json={"business_name": "Copy", "email": customer["email"].upper()})
        assert dup.status_code == 409 and dup.headers["content-type"].startswith("application/problem+json")
        assert "email" in dup.json()["detail"]
        bad = c.post(
            "/api/v1/staff/customers",
            json={
                "business_name": "Bad",
                "email": f"bad-{suffix}@e2e-c.test",
                "phones": [{"type": "pager", "number": "1"}],
            },
        )
        assert bad.status_code == 400

        # A personal customer: first and last name; a dropdown answer that is not offered is refused.
        body = {"first_name": "Bea", "last_name": "Blue", "email": customer["email"], "settings": {"no_email": True}}
        r = c.put(f"/api/v1/staff/customers/{customer['id']}", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["display_name"] == "Bea Blue" and r.json()["settings"]["no_email"] is True
        assert r.json()["custom_fields"] == [] and r.json()["phones"] == []
        body["custom_fields"] = [{"field_id": kind["id"], "value": "Alien"}]
        assert c.put(f"/api/v1/staff/customers/{customer['id']}", json=body).status_code == 400

        # Contacts: the same email may be on contacts of different customers (C2).
        other = _new_customer(c)
        shared = f"shared-{suffix}@e2e-c.test"
        for owner in (customer, other):
            r = c.post(f"/api/v1/staff/customers/{owner['id']}/contacts", json={"name": "Sam", "email": shared})
            assert r.status_code == 201, r.text
        contact = r.json()
        r = c.put(f"/api/v1/staff/contacts/{contact['id']}", json={"name": "Sam Hill", "email": shared, "title": "CTO"})
        assert r.status_code == 200 and r.json()["title"] == "CTO"
        assert [x["name"] for x in c.get(f"/api/v1/staff/customers/{other['id']}/contacts").json()] == ["Sam Hill"]

        assert c.delete(f"/api/v1/staff/custom-fields/{text['id']}").status_code == 204


def test_deleting_a_customer_with_a_ticket_is_refused_naming_the_holder_and_archiving_works(stack):  # noqa: ANN001
    token = _staff_session(stack)
    with api(stack, token) as c:
        customer = _new_customer(c)
        _open_ticket(stack, customer["id"])
        holders = c.get(f"/api/v1/staff/customers/{customer['id']}/data-holders").json()
        assert holders == {
            "deletable": False,
            "reason": "1 ticket in tickets",
            "holders": [{"service": "tickets", "kind": "tickets", "count": 1}],
        }
        r = c.delete(f"/api/v1/staff/customers/{customer['id']}")
        assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
        assert "1 ticket in tickets" in r.json()["detail"]
        assert c.get(f"/api/v1/staff/customers/{customer['id']}").status_code == 200
        r = c.put(f"/api/v1/staff/customers/{customer['id']}/archived", json={"archived": True})
        assert r.status_code == 200 and r.json()["archived"] is True
        assert c.delete(f"/api/v1/staff/customers/{customer['id']}").status_code == 409


def test_a_customer_nobody_holds_data_for_is_deleted(stack):  # noqa: ANN001
    token = _staff_session(stack)
    with api(stack, token) as c:
        customer = _new_customer(c, portal_access={"enabled": True, "require_mfa": True})
        assert customer["portal_access"]["enabled"] is True
        c.post(f"/api/v1/staff/customers/{customer['id']}/contacts", json={"name": "Pat"})
        assert c.get(f"/api/v1/staff/customers/{customer['id']}/data-holders").json()["deletable"] is True
        assert c.delete(f"/api/v1/staff/customers/{customer['id']}").status_code == 204
        assert c.get(f"/api/v1/staff/customers/{customer['id']}").status_code == 404
        assert c.delete(f"/api/v1/staff/customers/{customer['id']}").status_code == 404


def test_subsidiaries_join_the_parents_all_scope_and_nobody_elses(stack):  # noqa: ANN001
    token = _staff_session(stack)
    suffix = secrets.token_hex(3)
    with api(stack, token) as c:
        parent = _new_customer(c)
        child = _new_customer(c, parent_id=parent["id"])
        assert c.get(f"/api/v1/staff/customers/{parent['id']}").json()["subsidiaries"][0]["id"] == child["id"]
        page = c.get("/api/v1/staff/customers", params={"parent_id": parent["id"]}).json()
        assert [x["id"] for x in page["items"]] == [child["id"]]
        # A parent cannot become its own subsidiary's subsidiary.
        cycle = dict(parent, parent_id=child["id"])
        body = {k: cycle[k] for k in ("business_name", "email", "parent_id")}
        assert c.put(f"/api/v1/staff/customers/{parent['id']}", json=body).status_code == 400
        # Delete is refused while the parent has a subsidiary.
        r = c.delete(f"/api/v1/staff/customers/{parent['id']}")
        assert r.status_code == 409 and "1 subsidiary in identity" in r.json()["detail"]
        login, password = f"parent-{suffix}@e2e-c.test", f"parent-pass-{suffix}-x"
        r = c.post(
            f"/api/v1/staff/customers/{parent['id']}/portal-users",
            json={"email": login, "password": password},
        )
        assert r.status_code == 201, r.text
    _open_ticket(stack, child["id"])
    with api(stack, api_sign_in(stack, login, password)) as c:
        me = c.get("/api/v1/me").json()
        assert me["customer_id"] == parent["id"]
        seen = {t["customer_id"] for t in c.get("/api/v1/tickets", params={"page_size": 100}).json()["items"]}
        assert child["id"] in seen, "All covers the subsidiary's tickets"
        assert not c.get("/api/v1/tickets", params={"scope": "mine"}).json()["items"]
    with api(stack, api_sign_in(stack, BLUE.login, BLUE.password)) as c:
        seen = {t["customer_id"] for t in c.get("/api/v1/tickets", params={"page_size": 100}).json()["items"]}
        assert child["id"] not in seen


def test_portal_users_cannot_use_staff_customer_routes_or_rpcs(stack):  # noqa: ANN001
    staff = _staff_session(stack)
    with api(stack, staff) as c:
        blue_id = next(
            x["id"]
            for x in c.get("/api/v1/staff/customers", params={"page_size": 100}).json()["items"]
            if x["email"] == BLUE.email
        )
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        acme_id = c.get("/api/v1/me").json()["customer_id"]
        for method, path, body in (
            ("GET", "/api/v1/staff/customers", None),
            ("GET", f"/api/v1/staff/customers/{acme_id}", None),
            ("PUT", f"/api/v1/staff/customers/{acme_id}", {"business_name": "Mine", "email": ACME.email}),
            ("DELETE", f"/api/v1/staff/customers/{blue_id}", None),
            ("GET", f"/api/v1/staff/customers/{blue_id}/data-holders", None),
            ("POST", "/api/v1/staff/custom-fields", {"name": "X", "type": "text"}),
            ("POST", f"/api/v1/staff/customers/{blue_id}/contacts", {"name": "Mallory"}),
        ):
            r = c.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.status_code)
    # The services refuse the same user's token themselves, whatever customer id it names.
    portal = bearer_metadata(principal_token(stack, ACME.login, ACME.password))
    staff_md = bearer_metadata(_staff_principal(stack))
    for service in ("tickets", "billing", "assets", "remote"):
        with grpc.insecure_channel(stack.grpc_addr(service), options=[("grpc.enable_http_proxy", 0)]) as ch:
            stub = customer_data_pb2_grpc.CustomerDataServiceStub(ch)
            for cid in (acme_id, blue_id):
                with pytest.raises(grpc.RpcError) as err:
                    stub.CountCustomerData(
                        customer_data_pb2.CountCustomerDataRequest(customer_id=cid), timeout=10, metadata=portal
                    )
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, service
            answer = stub.CountCustomerData(
                customer_data_pb2.CountCustomerDataRequest(customer_id=blue_id), timeout=10, metadata=staff_md
            )
            assert answer.service == service


def test_a_demo_customer_is_held_by_tickets_and_billing(stack):  # noqa: ANN001
    """The seeded demo customer has tickets and invoices: each service counts its own, and delete names both."""
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        acme_id = c.get("/api/v1/me").json()["customer_id"]
    with api(stack, _staff_session(stack)) as c:
        holders = c.get(f"/api/v1/staff/customers/{acme_id}/data-holders").json()
        services = {(h["service"], h["kind"]) for h in holders["holders"]}
        assert {("tickets", "tickets"), ("billing", "invoices"), ("billing", "estimates")} <= services, holders
        assert not holders["deletable"]
        r = c.delete(f"/api/v1/staff/customers/{acme_id}")
        assert r.status_code == 409
        assert " in tickets" in r.json()["detail"] and " in billing" in r.json()["detail"]
        assert c.get(f"/api/v1/staff/customers/{acme_id}").status_code == 200
