"""Sites, staff-made assets and the reference check the tickets service relies on (T8), over real gRPC."""

from __future__ import annotations

import grpc
import pytest

from portal.assets.v1 import assets_pb2
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

A, B = "cust-a", "cust-b"
STAFF = Principal(kind=KIND_STAFF, subject_id="staff-1")
USER_A = Principal(kind=KIND_PORTAL_USER, subject_id="ua", customer_id=A, permissions=frozenset({perm.TICKETS_CREATE}))


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def make(stub, token, customer: str) -> tuple[str, str]:  # noqa: ANN001
    """A site and an asset at it for `customer`, made by staff."""
    opts = call_options(token(STAFF))
    site = (await stub.CreateSite(assets_pb2.CreateSiteRequest(customer_id=customer, name="HQ"), **opts)).site
    asset = (
        await stub.CreateAsset(
            assets_pb2.CreateAssetRequest(customer_id=customer, name="Printer", site_id=site.id, serial_number="S1"),
            **opts,
        )
    ).asset
    return site.id, asset.id


async def test_staff_make_a_site_and_an_asset_that_the_customer_then_lists(stub, token):
    site_id, asset_id = await make(stub, token, A)
    viewer = Principal(
        kind=KIND_PORTAL_USER, subject_id="v", customer_id=A, permissions=frozenset({perm.ASSETS_VIEW_ALL})
    )
    listed = (await stub.ListAssets(assets_pb2.ListAssetsRequest(), **call_options(token(viewer)))).assets
    assert [(a.id, a.site_id, a.name, a.serial_number) for a in listed] == [(asset_id, site_id, "Printer", "S1")]


async def test_portal_users_cannot_make_sites_or_assets(stub, token):
    opts = call_options(token(USER_A))
    err = await rpc_error(stub.CreateSite(assets_pb2.CreateSiteRequest(customer_id=A, name="x"), **opts))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(stub.CreateAsset(assets_pb2.CreateAssetRequest(customer_id=A, name="x"), **opts))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_asset_cannot_stand_at_another_customers_site(stub, token):
    b_site, _ = await make(stub, token, B)
    err = await rpc_error(
        stub.CreateAsset(
            assets_pb2.CreateAssetRequest(customer_id=A, name="x", site_id=b_site), **call_options(token(STAFF))
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "site_id" in err.details()


async def test_refs_of_the_customer_pass_and_others_fail(stub, token):
    a_site, a_asset = await make(stub, token, A)
    b_site, b_asset = await make(stub, token, B)

    async def check(principal: Principal, site: str = "", asset: str = "") -> tuple[bool, bool]:
        req = assets_pb2.CheckCustomerRefsRequest(customer_id=A, site_id=site, asset_id=asset)
        resp = await stub.CheckCustomerRefs(req, **call_options(token(principal)))
        return resp.site_ok, resp.asset_ok

    for who in (STAFF, USER_A):
        assert await check(who) == (True, True)
        assert await check(who, a_site, a_asset) == (True, True)
        assert await check(who, b_site, b_asset) == (False, False)
        assert await check(who, "no-such-site", a_asset) == (False, True)
        assert await check(who, a_site, "x" * 80) == (True, False)


async def test_a_portal_user_may_not_probe_another_customers_refs(stub, token):
    _, b_asset = await make(stub, token, B)
    req = assets_pb2.CheckCustomerRefsRequest(customer_id=B, asset_id=b_asset)
    err = await rpc_error(stub.CheckCustomerRefs(req, **call_options(token(USER_A))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
