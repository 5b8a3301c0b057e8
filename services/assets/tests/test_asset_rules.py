"""Asset and site rules over a real localhost gRPC socket (SPEC A1–A3): the asset page's data, who may change
which field, move/retire/delete, CSV import, sites, search and filters, idempotency and events."""

from __future__ import annotations

import grpc
import pytest
import sqlalchemy as sa

from portal.assets.v1 import assets_pb2, events_pb2
from portal.common.v1 import common_pb2
from portal_testkit.services import Principals
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.outbox_tables import outbox

A, A_SUB, B = "cust-a", "cust-a-sub", "cust-b"
ADMIN = Principals.staff()
TECH = Principals.technician()
ALL_A = Principals.portal(A, "ctc-1", permissions={perm.ASSETS_VIEW_ALL})
MINE_A = Principals.portal(A, "ctc-1", permissions={perm.ASSETS_VIEW_MINE})
ALL_B = Principals.portal(B, "ctc-b", permissions={perm.ASSETS_VIEW_ALL})
TICKETS_ONLY = Principals.portal(A, "ctc-1", permissions={perm.TICKETS_VIEW_ALL})
FIELDS = [
    assets_pb2.CustomField(name="Room", value="2.14", editable_by_customer=True),
    assets_pb2.CustomField(name="Licence", value="L-1", editable_by_customer=False),
]


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


@pytest.fixture
def as_(token):  # noqa: ANN001, ANN201
    return lambda principal: call_options(token(principal))


async def site(stub, as_, customer: str, name: str = "HQ") -> str:  # noqa: ANN001
    req = assets_pb2.CreateSiteRequest(customer_id=customer, name=name, address="1 Main St")
    return (await stub.CreateSite(req, **as_(ADMIN))).site.id


async def asset(stub, as_, customer: str, name: str = "Printer", **fields) -> assets_pb2.Asset:  # noqa: ANN001, ANN003
    req = assets_pb2.CreateAssetRequest(customer_id=customer, name=name, custom_fields=FIELDS, **fields)
    return (await stub.CreateAsset(req, **as_(TECH))).asset


async def test_the_customer_reads_its_asset_with_its_custom_fields_and_not_another_customers(stub, as_):
    mine = await asset(stub, as_, A, serial_number="SN-1", notes="On the desk", contact_id="ctc-1")
    theirs = await asset(stub, as_, B)
    got = (await stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=mine.id), **as_(ALL_A))).asset
    assert (got.name, got.serial_number, got.notes) == ("Printer", "SN-1", "On the desk")
    assert [(f.name, f.value, f.editable_by_customer) for f in got.custom_fields] == [
        ("Room", "2.14", True),
        ("Licence", "L-1", False),
    ]
    for other in (theirs.id, "no-such-asset", "x" * 40):
        err = await rpc_error(stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=other), **as_(ALL_A)))
        assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await rpc_error(stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=mine.id), **as_(TICKETS_ONLY)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_view_mine_sees_only_its_contacts_assets(stub, as_):
    mine = await asset(stub, as_, A, name="mine", contact_id="ctc-1")
    colleague = await asset(stub, as_, A, name="colleague", contact_id="ctc-2")
    assert (await stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=mine.id), **as_(MINE_A))).asset.name == "mine"
    err = await rpc_error(stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=colleague.id), **as_(MINE_A)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # "Mine" for a View All user narrows to its own contact's.
    listed = await stub.ListAssets(assets_pb2.ListAssetsRequest(mine_only=True), **as_(ALL_A))
    assert [a.name for a in listed.assets] == ["mine"]


async def test_a_customer_edits_an_editable_custom_field_and_nothing_else(stub, as_, db):
    a = await asset(stub, as_, A)
    ok = assets_pb2.UpdateAssetRequest(asset_id=a.id, custom_field_values={"Room": "3.01"})
    got = (await stub.UpdateAsset(ok, **as_(ALL_A))).asset
    assert {f.name: f.value for f in got.custom_fields} == {"Room": "3.01", "Licence": "L-1"}

    not_editable = assets_pb2.UpdateAssetRequest(asset_id=a.id, custom_field_values={"Licence": "stolen"})
    err = await rpc_error(stub.UpdateAsset(not_editable, **as_(ALL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'Licence' is not editable by customers" in err.details()

    for staff_field in ({"name": "Renamed"}, {"serial_number": "X"}, {"site_id": ""}, {"notes": "n"}):
        err = await rpc_error(
            stub.UpdateAsset(assets_pb2.UpdateAssetRequest(asset_id=a.id, **staff_field), **as_(ALL_A))
        )
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, staff_field
        assert f"not {next(iter(staff_field))}" in err.details()
    replace = assets_pb2.UpdateAssetRequest(asset_id=a.id, replace_custom_fields=True)
    err = await rpc_error(stub.UpdateAsset(replace, **as_(ALL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED

    unknown = assets_pb2.UpdateAssetRequest(asset_id=a.id, custom_field_values={"Nope": "1"})
    assert (await rpc_error(stub.UpdateAsset(unknown, **as_(ALL_A)))).code() == grpc.StatusCode.INVALID_ARGUMENT
    # Another customer's user learns nothing, not even that the asset exists.
    err = await rpc_error(stub.UpdateAsset(ok, **as_(ALL_B)))
    assert err.code() == grpc.StatusCode.NOT_FOUND

    after = (await stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=a.id), **as_(ADMIN))).asset
    assert (after.name, {f.name: f.value for f in after.custom_fields}) == (
        "Printer",
        {"Room": "3.01", "Licence": "L-1"},
    )
    async with db.unit_of_work() as s:
        payloads = (await s.execute(sa.select(outbox.c.payload).where(outbox.c.subject.like("%asset_updated%")))).all()
    events = [events_pb2.AssetUpdated.FromString(p.payload) for p in payloads]
    assert [list(e.changed) for e in events] == [["custom:Room"]]
    assert events[0].changed_by_kind == "portal_user" and b"3.01" not in payloads[0].payload


async def test_staff_edit_every_field_and_move_the_asset_between_the_customers_sites(stub, as_):
    hq, depot, b_site = await site(stub, as_, A), await site(stub, as_, A, "Depot"), await site(stub, as_, B)
    a = await asset(stub, as_, A, site_id=hq)
    move = assets_pb2.UpdateAssetRequest(
        asset_id=a.id,
        name="Laser printer",
        site_id=depot,
        replace_custom_fields=True,
        custom_fields=[assets_pb2.CustomField(name="Toner", value="TN-2420", editable_by_customer=True)],
    )
    got = (await stub.UpdateAsset(move, **as_(TECH))).asset
    assert (got.name, got.site_id, [f.name for f in got.custom_fields]) == ("Laser printer", depot, ["Toner"])
    err = await rpc_error(stub.UpdateAsset(assets_pb2.UpdateAssetRequest(asset_id=a.id, site_id=b_site), **as_(TECH)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "site_id" in err.details()
    blank = assets_pb2.UpdateAssetRequest(asset_id=a.id, name="  ")
    assert (await rpc_error(stub.UpdateAsset(blank, **as_(TECH)))).code() == grpc.StatusCode.INVALID_ARGUMENT
    twice = assets_pb2.UpdateAssetRequest(
        asset_id=a.id, replace_custom_fields=True, custom_fields=[assets_pb2.CustomField(name="x")] * 2
    )
    assert (await rpc_error(stub.UpdateAsset(twice, **as_(TECH)))).code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_retired_assets_leave_the_portal_list_and_come_back(stub, as_):
    a = await asset(stub, as_, A, name="old pc")
    await asset(stub, as_, A, name="new pc")
    retired = (await stub.RetireAsset(assets_pb2.RetireAssetRequest(asset_id=a.id, retired=True), **as_(TECH))).asset
    assert retired.HasField("retired_at")
    portal = await stub.ListAssets(assets_pb2.ListAssetsRequest(), **as_(ALL_A))
    assert [x.name for x in portal.assets] == ["new pc"]
    # Asking for retired ones is a staff choice; the portal's request is ignored.
    asked = await stub.ListAssets(assets_pb2.ListAssetsRequest(include_retired=True), **as_(ALL_A))
    assert [x.name for x in asked.assets] == ["new pc"]
    staff = await stub.ListAssets(assets_pb2.ListAssetsRequest(customer_id=A, include_retired=True), **as_(TECH))
    assert [x.name for x in staff.assets] == ["new pc", "old pc"]
    err = await rpc_error(stub.RetireAsset(assets_pb2.RetireAssetRequest(asset_id=a.id), **as_(ALL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    back = (await stub.RetireAsset(assets_pb2.RetireAssetRequest(asset_id=a.id, retired=False), **as_(TECH))).asset
    assert not back.HasField("retired_at")


async def test_only_an_admin_deletes_an_asset(stub, as_):
    a = await asset(stub, as_, A)
    err = await rpc_error(stub.DeleteAsset(assets_pb2.DeleteAssetRequest(asset_id=a.id), **as_(TECH)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "admin" in err.details()
    err = await rpc_error(stub.DeleteAsset(assets_pb2.DeleteAssetRequest(asset_id=a.id), **as_(ALL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    await stub.DeleteAsset(assets_pb2.DeleteAssetRequest(asset_id=a.id), **as_(ADMIN))
    err = await rpc_error(stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=a.id), **as_(ADMIN)))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_a_create_repeated_with_its_idempotency_key_makes_one_asset_and_one_event(stub, as_, db):
    req = assets_pb2.CreateAssetRequest(customer_id=A, name="Switch", idempotency_key="k-1")
    first = (await stub.CreateAsset(req, **as_(TECH))).asset
    second = (await stub.CreateAsset(req, **as_(TECH))).asset
    assert first.id == second.id
    site_req = assets_pb2.CreateSiteRequest(customer_id=A, name="Annex", idempotency_key="k-1")
    assert (await stub.CreateSite(site_req, **as_(TECH))).site.id == (
        await stub.CreateSite(site_req, **as_(TECH))
    ).site.id
    async with db.unit_of_work() as s:
        rows = (await s.execute(sa.select(outbox.c.payload).where(outbox.c.subject.like("%asset_created%")))).all()
    assert [events_pb2.AssetCreated.FromString(r.payload).asset_id for r in rows] == [first.id]


async def test_search_and_site_filter(stub, as_):
    hq = await site(stub, as_, A)
    await asset(stub, as_, A, name="Reception PC", serial_number="ABC-100", site_id=hq)
    await asset(stub, as_, A, name="Laptop 50%", serial_number="zz")
    await asset(stub, as_, A, name="Server", serial_number="abc-200")

    async def names(**kw) -> list[str]:  # noqa: ANN003
        return [a.name for a in (await stub.ListAssets(assets_pb2.ListAssetsRequest(**kw), **as_(ALL_A))).assets]

    assert await names(query="abc") == ["Reception PC", "Server"]
    assert await names(query="  reception  ") == ["Reception PC"]
    assert await names(query="50%") == ["Laptop 50%"]
    assert await names(query="%") == ["Laptop 50%"]
    assert await names(site_id=hq) == ["Reception PC"]
    assert await names(customer_id=B) == []


async def test_import_creates_every_row_or_none_with_the_errors_of_each(stub, as_):
    await site(stub, as_, A, "HQ")
    good = b"Name,Serial,Type,Site,Notes,Warranty\nPC 1,S1,PC,hq,first,2027\nPC 2,S2,PC,Depot,,\n"
    req = assets_pb2.ImportAssetsCsvRequest(customer_id=A, csv=good, idempotency_key="imp-1")
    resp = await stub.ImportAssetsCsv(req, **as_(ADMIN))
    assert not resp.errors and resp.sites_created == 1
    assert [(a.name, a.serial_number, a.notes) for a in resp.assets] == [("PC 1", "S1", "first"), ("PC 2", "S2", "")]
    assert [(f.name, f.value) for f in resp.assets[0].custom_fields] == [("Warranty", "2027")]
    assert not resp.assets[1].custom_fields
    again = await stub.ImportAssetsCsv(req, **as_(ADMIN))
    assert [a.id for a in again.assets] == [a.id for a in resp.assets]

    bad = b"name,serial\nOK,1\n,2\nlong," + b"x" * 101 + b"\n"
    resp = await stub.ImportAssetsCsv(assets_pb2.ImportAssetsCsvRequest(customer_id=A, csv=bad), **as_(ADMIN))
    assert [(e.row, e.field) for e in resp.errors] == [(2, "name"), (3, "serial")]
    assert not resp.assets
    listed = await stub.ListAssets(assets_pb2.ListAssetsRequest(customer_id=A), **as_(ADMIN))
    assert sorted(a.name for a in listed.assets) == ["PC 1", "PC 2"]

    for broken in (b"", b"serial\n1\n", b"name\n", b"\xff\xfe", b"name\n" + b"x\n" * 2_001):
        err = await rpc_error(
            stub.ImportAssetsCsv(assets_pb2.ImportAssetsCsvRequest(customer_id=A, csv=broken), **as_(ADMIN))
        )
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, broken[:20]
    err = await rpc_error(stub.ImportAssetsCsv(assets_pb2.ImportAssetsCsvRequest(customer_id=A, csv=good), **as_(TECH)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_sites_are_listed_read_edited_and_deleted_only_when_empty(stub, as_):
    hq = await site(stub, as_, A, "HQ")
    empty = await site(stub, as_, A, "Annex")
    b_site = await site(stub, as_, B, "Elsewhere")
    await asset(stub, as_, A, site_id=hq)
    listed = await stub.ListSites(assets_pb2.ListSitesRequest(page=common_pb2.PageRequest(page_size=1)), **as_(ALL_A))
    assert [s.name for s in listed.sites] == ["Annex"] and listed.page.next_cursor
    rest = await stub.ListSites(
        assets_pb2.ListSitesRequest(page=common_pb2.PageRequest(cursor=listed.page.next_cursor)), **as_(ALL_A)
    )
    assert [s.name for s in rest.sites] == ["HQ"]
    err = await rpc_error(stub.GetSite(assets_pb2.GetSiteRequest(site_id=b_site), **as_(ALL_A)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    renamed = await stub.UpdateSite(assets_pb2.UpdateSiteRequest(site_id=hq, name="Head office"), **as_(TECH))
    assert (renamed.site.name, renamed.site.address) == ("Head office", "1 Main St")
    err = await rpc_error(stub.UpdateSite(assets_pb2.UpdateSiteRequest(site_id=hq, name="x"), **as_(ALL_A)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(stub.DeleteSite(assets_pb2.DeleteSiteRequest(site_id=hq), **as_(ADMIN)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "1 asset" in err.details()
    err = await rpc_error(stub.DeleteSite(assets_pb2.DeleteSiteRequest(site_id=empty), **as_(TECH)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    await stub.DeleteSite(assets_pb2.DeleteSiteRequest(site_id=empty), **as_(ADMIN))
    err = await rpc_error(stub.GetSite(assets_pb2.GetSiteRequest(site_id=empty), **as_(ADMIN)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
