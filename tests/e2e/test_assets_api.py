"""Issue 13, assets and sites through the JSON APIs on the running stack (SPEC A1–A3, T8): staff make sites and
assets (idempotent), edit, move, retire, import a CSV; the customer lists (search, Mine / All, site), reads, edits
only the custom fields marked editable; another customer's ids are 404; a ticket filed about an asset is listed by
asset and by site; a site with assets is not deleted."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.e2e.helpers import ACME, BLUE, api, api_sign_in


def staff_token(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def customer_id(stack, token: str) -> str:  # noqa: ANN001
    with api(stack, token) as c:
        return c.get("/api/v1/me").json()["customer_id"]


def test_assets_and_sites_through_the_apis(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    staff = staff_token(stack)
    alice, bob = api_sign_in(stack, ACME.login, ACME.password), api_sign_in(stack, BLUE.login, BLUE.password)
    acme = customer_id(stack, alice)
    with api(stack, alice) as c:
        me = c.get("/api/v1/me").json()

    with api(stack, staff) as s:
        key = {"Idempotency-Key": f"site-{tag}-0000000000"}
        r = s.post(
            f"/api/v1/staff/customers/{acme}/sites", json={"name": f"HQ {tag}", "address": "1 Quay"}, headers=key
        )
        assert r.status_code == 201, r.text
        hq = r.json()
        again = s.post(f"/api/v1/staff/customers/{acme}/sites", json={"name": f"HQ {tag}"}, headers=key).json()
        assert again["id"] == hq["id"], "the same Idempotency-Key answers the first site"
        depot = s.post(f"/api/v1/staff/customers/{acme}/sites", json={"name": f"Depot {tag}"}).json()
        body = {
            "name": f"Printer {tag}",
            "serial_number": f"SN-{tag}",
            "asset_type": "Printer",
            "site_id": hq["id"],
            "contact_id": me["contact_id"],
            "custom_fields": [
                {"name": "Room", "value": "2.14", "editable_by_customer": True},
                {"name": "Licence", "value": "L-1", "editable_by_customer": False},
            ],
        }
        key = {"Idempotency-Key": f"asset-{tag}-000000000"}
        r = s.post(f"/api/v1/staff/customers/{acme}/assets", json=body, headers=key)
        assert r.status_code == 201, r.text
        printer = r.json()
        assert s.post(f"/api/v1/staff/customers/{acme}/assets", json=body, headers=key).json()["id"] == printer["id"]
        laptop = s.post(
            f"/api/v1/staff/customers/{acme}/assets", json={"name": f"Laptop {tag}", "site_id": depot["id"]}
        ).json()
        r = s.post(f"/api/v1/staff/customers/{acme}/assets", json={"name": "", "serial_number": "x"})
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
        r = s.post(f"/api/v1/staff/customers/{acme}/assets", json={"name": "x", "site_id": "no-such-site"})
        assert r.status_code == 400 and "site_id" in r.json()["detail"], r.text

        # CSV import: all rows or none.
        bad = "name,serial\nGood one,1\n,2\n"
        r = s.post(f"/api/v1/staff/customers/{acme}/assets/import", files={"file": ("a.csv", bad, "text/csv")})
        assert r.status_code == 200 and r.json()["created"] == [], r.text
        assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(2, "name")]
        good = f"name,serial,site,Warranty\nImported A {tag},IA-{tag},HQ {tag},2028\nImported B {tag},IB-{tag},,\n"
        r = s.post(f"/api/v1/staff/customers/{acme}/assets/import", files={"file": ("a.csv", good, "text/csv")})
        assert r.status_code == 200 and not r.json()["errors"], r.text
        assert [a["name"] for a in r.json()["created"]] == [f"Imported A {tag}", f"Imported B {tag}"]
        assert r.json()["created"][0]["site_id"] == hq["id"]
        r = s.post(
            f"/api/v1/staff/customers/{acme}/assets/import",
            files={"file": ("a.csv", "\xff".encode("latin-1"), "text/csv")},
        )
        assert r.status_code == 400, r.text

    with api(stack, alice) as c:
        listed = c.get("/api/v1/assets", params={"q": tag}).json()["items"]
        assert {a["name"] for a in listed} >= {f"Printer {tag}", f"Laptop {tag}", f"Imported A {tag}"}
        mine = c.get("/api/v1/assets", params={"q": tag, "scope": "mine"}).json()["items"]
        assert [a["name"] for a in mine] == [f"Printer {tag}"]
        at_depot = c.get("/api/v1/assets", params={"site_id": depot["id"]}).json()["items"]
        assert [a["id"] for a in at_depot] == [laptop["id"]]
        assert c.get(f"/api/v1/sites/{hq['id']}").json()["address"] == "1 Quay"
        assert hq["id"] in {x["id"] for x in c.get("/api/v1/sites", params={"page_size": 100}).json()["items"]}

        r = c.patch(f"/api/v1/assets/{printer['id']}", json={"custom_field_values": {"Room": "3.01"}})
        assert r.status_code == 200, r.text
        assert {f["name"]: f["value"] for f in r.json()["custom_fields"]} == {"Room": "3.01", "Licence": "L-1"}
        r = c.patch(f"/api/v1/assets/{printer['id']}", json={"custom_field_values": {"Licence": "mine now"}})
        assert r.status_code == 403 and "'Licence' is not editable by customers" in r.json()["detail"], r.text
        r = c.patch(f"/api/v1/assets/{printer['id']}", json={"name": "Renamed"})
        assert r.status_code == 403 and "name" in r.json()["detail"], r.text
        assert c.get(f"/api/v1/assets/{printer['id']}").json()["name"] == f"Printer {tag}"

        r = c.post(
            "/api/v1/tickets",
            json={
                "subject": f"Paper jam {tag}",
                "description": "Tray 2.",
                "asset_id": printer["id"],
                "site_id": hq["id"],
            },
            headers={"Idempotency-Key": f"ticket-{tag}-0000000"},
        )
        assert r.status_code == 201, r.text
        ticket = r.json()
        by_asset = c.get("/api/v1/tickets", params={"asset_id": printer["id"]}).json()["items"]
        assert [t["id"] for t in by_asset] == [ticket["id"]]
        by_site = c.get("/api/v1/tickets", params={"site_id": hq["id"]}).json()["items"]
        assert [t["id"] for t in by_site] == [ticket["id"]]
        assert c.get("/api/v1/tickets", params={"site_id": depot["id"]}).json()["items"] == []

    with api(stack, bob) as c:
        for path in (f"/api/v1/assets/{printer['id']}", f"/api/v1/sites/{hq['id']}"):
            assert c.get(path).status_code == 404, path
        r = c.patch(f"/api/v1/assets/{printer['id']}", json={"custom_field_values": {"Room": "x"}})
        assert r.status_code == 404, r.text
        assert tag not in str(c.get("/api/v1/assets", params={"q": tag}).json())

    with api(stack, staff) as s:
        queue = s.get("/api/v1/staff/tickets", params={"asset_id": printer["id"]}).json()["items"]
        assert [t["id"] for t in queue] == [ticket["id"]]
        assert [t["id"] for t in s.get("/api/v1/staff/tickets", params={"site_id": hq["id"]}).json()["items"]] == [
            ticket["id"]
        ]
        r = s.patch(f"/api/v1/staff/assets/{printer['id']}", json={"site_id": depot["id"], "notes": "Moved"})
        assert r.status_code == 200 and r.json()["site_id"] == depot["id"], r.text
        r = s.post(f"/api/v1/staff/assets/{laptop['id']}/retire", json={"retired": True})
        assert r.status_code == 200 and r.json()["retired_at"], r.text
        names = [a["name"] for a in s.get(f"/api/v1/staff/customers/{acme}/assets", params={"q": tag}).json()["items"]]
        assert f"Laptop {tag}" not in names
        every = s.get(f"/api/v1/staff/customers/{acme}/assets", params={"q": tag, "include_retired": True}).json()
        assert f"Laptop {tag}" in [a["name"] for a in every["items"]]
        r = s.delete(f"/api/v1/staff/sites/{depot['id']}")
        assert r.status_code == 409 and "asset" in r.json()["detail"], r.text
        assert s.delete(f"/api/v1/staff/assets/{laptop['id']}").status_code == 204
        assert s.get(f"/api/v1/staff/assets/{laptop['id']}").status_code == 404

    with api(stack, alice) as c:
        assert f"Laptop {tag}" not in [a["name"] for a in c.get("/api/v1/assets", params={"q": tag}).json()["items"]]


def test_the_staff_import_page_shows_each_bad_row_and_imports_nothing(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    staff = staff_token(stack)
    acme = customer_id(stack, api_sign_in(stack, ACME.login, ACME.password))
    pages = httpx.Client(base_url=stack.gateway_url, headers={"Cookie": f"staff_session={staff}"}, timeout=15)
    with pages:
        tab = pages.get(f"/staff/customers/{acme}/assets")
        assert tab.status_code == 200 and "Import assets from a CSV file" in tab.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', tab.text).group(1)
        bad = f"name,serial\nFine {tag},1\n,2\nToo long {tag},{'x' * 101}\n"
        r = pages.post(
            f"/staff/customers/{acme}/assets/import",
            data={"csrf_token": token},
            files={"file": ("bad.csv", bad.encode(), "text/csv")},
        )
        assert r.status_code == 400, r.text[:300]
        assert "Nothing was imported: 2 rows need fixing." in r.text
        assert "a name is required" in r.text and "the serial must be at most 100 characters" in r.text
        good = f"name,serial,site\nFine {tag},1,Annex {tag}\n"
        r = pages.post(
            f"/staff/customers/{acme}/assets/import",
            data={"csrf_token": token},
            files={"file": ("good.csv", good.encode(), "text/csv")},
        )
        assert r.status_code == 200 and "1 asset(s) imported, 1 new site(s)." in r.text, r.text[:300]
        listed = pages.get(f"/staff/customers/{acme}/assets", params={"q": tag}).text
        assert listed.count(f"Fine {tag}") == 1 and f"Too long {tag}" not in listed
        # A site with assets: the confirmation page, then a clear refusal.
        site_id = re.search(rf'href="/staff/sites/([^"]+)">Annex {tag}<', listed).group(1)
        confirm = pages.get(f"/staff/sites/{site_id}/delete")
        assert confirm.status_code == 200 and "Delete the site" in confirm.text
        r = pages.post(f"/staff/sites/{site_id}/delete", data={"csrf_token": token})
        assert r.status_code == 409 and "the site still has 1 asset; move or delete them first" in r.text
