"""Assets and sites (SPEC A1–A3) in the authorisation matrix: every portal route opens for Assets - View All or View
Mine (the probed asset belongs to the harness contact, so View Mine sees it), is refused without either, and answers
404 for another customer's asset or site, over HTTP and gRPC. The staff routes are under STAFF_PREFIXES (portal
sessions refused, test_coverage); who among staff may do what is test_staff_assets.py."""

from __future__ import annotations

import grpc

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from servicekit import permissions as perm
from tests.authz.harness import Route
from tests.authz.world import DEADLINE

VIEW = (perm.ASSETS_VIEW_ALL, perm.ASSETS_VIEW_MINE)
EDITABLE = "Room"


def _stub(addr, token: str):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(addr("assets"), options=[("grpc.enable_http_proxy", 0)])
    return channel, assets_pb2_grpc.AssetsServiceStub(channel), (("authorization", f"Bearer {token}"),)


def _staff_stub(world):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(world.grpc_addr("assets"), options=[("grpc.enable_http_proxy", 0)])
    return channel, assets_pb2_grpc.AssetsServiceStub(channel)


def make_site(world, customer) -> str:  # noqa: ANN001
    channel, stub = _staff_stub(world)
    with channel:
        req = assets_pb2.CreateSiteRequest(customer_id=customer.id, name="Authz probe site")
        return stub.CreateSite(req, timeout=DEADLINE, metadata=world.staff_metadata()).site.id


def make_asset(world, customer) -> str:  # noqa: ANN001
    """An asset of the customer's harness contact, at a site, with one customer-editable custom field."""
    site_id = make_site(world, customer)
    channel, stub = _staff_stub(world)
    with channel:
        req = assets_pb2.CreateAssetRequest(
            customer_id=customer.id,
            contact_id=customer.contact_id,
            site_id=site_id,
            name="Authz probe asset",
            custom_fields=[assets_pb2.CustomField(name=EDITABLE, value="1", editable_by_customer=True)],
        )
        return stub.CreateAsset(req, timeout=DEADLINE, metadata=world.staff_metadata()).asset.id


def grpc_list_assets(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListAssets(assets_pb2.ListAssetsRequest(), timeout=DEADLINE, metadata=md)


def grpc_get_asset(addr, token: str, asset_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=asset_id), timeout=DEADLINE, metadata=md)


def grpc_update_asset(addr, token: str, asset_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        req = assets_pb2.UpdateAssetRequest(asset_id=asset_id, custom_field_values={EDITABLE: "2"})
        stub.UpdateAsset(req, timeout=DEADLINE, metadata=md)


def grpc_list_sites(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListSites(assets_pb2.ListSitesRequest(), timeout=DEADLINE, metadata=md)


def grpc_get_site(addr, token: str, site_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetSite(assets_pb2.GetSiteRequest(site_id=site_id), timeout=DEADLINE, metadata=md)


def _asset(method: str, path: str, **kw) -> Route:  # noqa: ANN003
    return Route(method, path, VIEW, id_param="asset_id", make_id=make_asset, **kw)


def _site(path: str, **kw) -> Route:  # noqa: ANN003
    return Route("GET", path, VIEW, id_param="site_id", make_id=make_site, grpc=grpc_get_site, **kw)


ROUTES = [
    Route("GET", "/api/v1/assets", VIEW, grpc=grpc_list_assets),
    Route("GET", "/assets", VIEW, grpc=grpc_list_assets),
    _asset("GET", "/api/v1/assets/{asset_id}", grpc=grpc_get_asset),
    _asset("GET", "/assets/{asset_id}", grpc=grpc_get_asset),
    _asset("PATCH", "/api/v1/assets/{asset_id}", json={"custom_field_values": {EDITABLE: "3"}}, grpc=grpc_update_asset),
    _asset("POST", "/assets/{asset_id}/fields", form={"field_0": "4"}, ok_statuses=(303,), grpc=grpc_update_asset),
    Route("GET", "/api/v1/sites", VIEW, grpc=grpc_list_sites),
    _site("/api/v1/sites/{site_id}"),
    _site("/sites/{site_id}"),
]
