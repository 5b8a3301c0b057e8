"""Staff roles × assets and sites (issue 13): a technician creates, edits, moves and retires assets and sites (they
work customers' devices) but is refused deleting either and the CSV import — by the assets service, on the
principal's staff_role, so the pages, the API and gRPC all answer the same; an admin does all of it. A customer
editing a field staff did not mark editable is refused over HTTP and over gRPC."""

from __future__ import annotations

import re
import secrets
import uuid

import grpc
import pytest

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from servicekit import permissions as perm
from tests.authz.test_staff_roles import StaffUsers, staff_users  # noqa: F401 - the fixture
from tests.authz.world import DEADLINE, AuthzWorld

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CSV = "name,serial\nImported {tag},S-{tag}\n"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(12)}


def _made(staff: StaffUsers, session: str, customer_id: str, tag: str) -> tuple[dict, dict]:
    with staff.client(session, page=False) as c:
        site = c.post(f"/api/v1/staff/customers/{customer_id}/sites", json={"name": f"Site {tag}"}, headers=_key())
        assert site.status_code == 201, site.text
        asset = c.post(
            f"/api/v1/staff/customers/{customer_id}/assets",
            json={"name": f"Asset {tag}", "site_id": site.json()["id"]},
            headers=_key(),
        )
        assert asset.status_code == 201, asset.text
    return site.json(), asset.json()


def test_a_technician_works_assets_but_an_admin_deletes_and_imports(staff_users: StaffUsers) -> None:  # noqa: F811
    customer_id = staff_users.world.customers["acme"].id
    tag = uuid.uuid4().hex[:8]
    tech, admin = staff_users.technician, staff_users.admin
    site, asset = _made(staff_users, tech, customer_id, tag)
    other_site, _ = _made(staff_users, tech, customer_id, tag + "b")

    with staff_users.client(tech, page=False) as c:
        r = c.patch(f"/api/v1/staff/assets/{asset['id']}", json={"site_id": other_site["id"], "notes": "moved"})
        assert r.status_code == 200 and r.json()["site_id"] == other_site["id"], r.text
        assert c.post(f"/api/v1/staff/assets/{asset['id']}/retire", json={"retired": True}).status_code == 200
        assert c.patch(f"/api/v1/staff/sites/{site['id']}", json={"address": "1 Road"}).status_code == 200
        refused = [
            c.delete(f"/api/v1/staff/assets/{asset['id']}"),
            c.delete(f"/api/v1/staff/sites/{site['id']}"),
            c.post(
                f"/api/v1/staff/customers/{customer_id}/assets/import",
                files={"file": ("a.csv", CSV.format(tag=tag), "text/csv")},
            ),
        ]
        for r in refused:
            assert r.status_code == 403 and "only an admin" in r.json()["detail"], r.text
    with staff_users.client(tech, page=True) as c:
        token = _CSRF.search(c.get(f"/staff/assets/{asset['id']}").text).group(1)
        for path in (f"/staff/assets/{asset['id']}/delete", f"/staff/sites/{site['id']}/delete"):
            r = c.post(path, data={"csrf_token": token}, follow_redirects=False)
            assert r.status_code == 403 and "only an admin" in r.text, path
        page = c.get(f"/staff/customers/{customer_id}/assets")
        assert page.status_code == 200 and "/assets/import" not in page.text, "no import form for a technician"
    md = (("authorization", f"Bearer {staff_users.world.principal_token(tech)}"),)
    with grpc.insecure_channel(staff_users.world.grpc_addr("assets")) as ch:
        stub = assets_pb2_grpc.AssetsServiceStub(ch)
        for call, request in (
            (stub.DeleteAsset, assets_pb2.DeleteAssetRequest(asset_id=asset["id"])),
            (stub.DeleteSite, assets_pb2.DeleteSiteRequest(site_id=site["id"])),
            (stub.ImportAssetsCsv, assets_pb2.ImportAssetsCsvRequest(customer_id=customer_id, csv=b"name\nx\n")),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call(request, timeout=DEADLINE, metadata=md)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]

    with staff_users.client(admin, page=False) as c:
        r = c.post(
            f"/api/v1/staff/customers/{customer_id}/assets/import",
            files={"file": ("a.csv", CSV.format(tag=tag), "text/csv")},
        )
        assert r.status_code == 200 and [a["name"] for a in r.json()["created"]] == [f"Imported {tag}"], r.text
        assert c.delete(f"/api/v1/staff/sites/{site['id']}").status_code == 204, "no asset stands on it any more"
        r = c.delete(f"/api/v1/staff/sites/{other_site['id']}")
        assert r.status_code == 409 and "2 assets" in r.json()["detail"], r.text  # its own and the moved one
    with staff_users.client(admin, page=True) as c:
        token = _CSRF.search(c.get(f"/staff/assets/{asset['id']}/delete").text).group(1)
        r = c.post(f"/staff/assets/{asset['id']}/delete", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert c.get(f"/staff/assets/{asset['id']}").status_code == 404


def test_a_customer_is_refused_a_field_staff_did_not_mark_editable(
    staff_users: StaffUsers,  # noqa: F811
    authz_world: AuthzWorld,
) -> None:
    acme = authz_world.customers["acme"]
    tag = uuid.uuid4().hex[:8]
    with staff_users.client(staff_users.admin, page=False) as c:
        r = c.post(
            f"/api/v1/staff/customers/{acme.id}/assets",
            json={
                "name": f"Guarded {tag}",
                "contact_id": acme.contact_id,
                "custom_fields": [
                    {"name": "Room", "value": "1", "editable_by_customer": True},
                    {"name": "Tag", "value": "T"},
                ],
            },
            headers=_key(),
        )
        asset_id = r.json()["id"]
    session = authz_world.session(acme, {perm.ASSETS_VIEW_ALL})
    with authz_world.http(session, page=False) as c:
        for body in ({"custom_field_values": {"Tag": "x"}}, {"serial_number": "x"}, {"site_id": ""}):
            r = c.patch(f"/api/v1/assets/{asset_id}", json=body)
            assert r.status_code == 403, (body, r.text)
        assert c.get(f"/api/v1/assets/{asset_id}").json()["serial_number"] == ""
    md = (("authorization", f"Bearer {authz_world.principal_token(session)}"),)
    with grpc.insecure_channel(authz_world.grpc_addr("assets")) as ch:
        stub = assets_pb2_grpc.AssetsServiceStub(ch)
        for request in (
            assets_pb2.UpdateAssetRequest(asset_id=asset_id, custom_field_values={"Tag": "x"}),
            assets_pb2.UpdateAssetRequest(asset_id=asset_id, name="Renamed"),
            assets_pb2.RetireAssetRequest(asset_id=asset_id, retired=True),
        ):
            call = stub.RetireAsset if isinstance(request, assets_pb2.RetireAssetRequest) else stub.UpdateAsset
            with pytest.raises(grpc.RpcError) as err:
                call(request, timeout=DEADLINE, metadata=md)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
