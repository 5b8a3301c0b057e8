"""AssetsService over a real localhost gRPC socket with principal tokens, as the gateway calls it."""

from __future__ import annotations

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.assets.v1 import assets_pb2
from portal.common.v1 import common_pb2
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, Principal, TokenSigner

A, B = "cust-a", "cust-b"
USER_A = Principal(kind=KIND_PORTAL_USER, subject_id="ua", customer_id=A, permissions=frozenset({perm.ASSETS_VIEW_ALL}))
USER_B = Principal(kind=KIND_PORTAL_USER, subject_id="ub", customer_id=B, permissions=frozenset({perm.ASSETS_VIEW_ALL}))


def request(page_size: int = 0, cursor: str = "") -> assets_pb2.ListAssetsRequest:
    return assets_pb2.ListAssetsRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_without_a_token_the_call_is_unauthenticated(stub):
    err = await rpc_error(stub.ListAssets(request(), **call_options(None)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_signed_by_another_key_is_unauthenticated(stub):
    forged, _ = TokenSigner(Ed25519PrivateKey.generate()).sign(USER_A)
    err = await rpc_error(stub.ListAssets(request(), **call_options(forged)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_each_customer_sees_only_its_own_assets(stub, seed, make_asset, token):
    await seed(make_asset(A, name="a laptop"), make_asset(B, name="b laptop"))
    resp_b = await stub.ListAssets(request(), **call_options(token(USER_B)))
    assert [a.name for a in resp_b.assets] == ["b laptop"]
    resp_a = await stub.ListAssets(request(), **call_options(token(USER_A)))
    assert [a.name for a in resp_a.assets] == ["a laptop"]


async def test_a_group_with_neither_asset_permission_is_denied(stub, token):
    tickets_only = Principal(
        kind=KIND_PORTAL_USER, subject_id="u", customer_id=A, permissions=frozenset({perm.TICKETS_VIEW_MINE})
    )
    err = await rpc_error(stub.ListAssets(request(), **call_options(token(tickets_only))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("page", [request(cursor="not a cursor"), request(page_size=-1)], ids=["cursor", "page_size"])
async def test_bad_paging_is_invalid_argument(stub, token, page):
    err = await rpc_error(stub.ListAssets(page, **call_options(token(USER_A))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_asset_as_the_portal_shows_it(stub, seed, make_asset, token):
    await seed(
        make_asset(A, name="reception pc", contact_id="ctc-1", site_id="site-1", serial_number="SN-9", asset_type="PC"),
        make_asset(A, name="spare"),
    )
    pc, spare = (await stub.ListAssets(request(), **call_options(token(USER_A)))).assets
    assert (pc.name, pc.customer_id, pc.contact_id, pc.site_id) == ("reception pc", A, "ctc-1", "site-1")
    assert (pc.serial_number, pc.asset_type) == ("SN-9", "PC")
    assert (spare.contact_id, spare.site_id, spare.serial_number, spare.asset_type) == ("", "", "", "")


async def test_pages_walk_every_asset_once_by_name(stub, seed, make_asset, token):
    assets = [make_asset(A, name=("alpha", "bravo", "charlie")[i % 3]) for i in range(7)]
    await seed(*assets, make_asset(B, name="alpha"))
    expected = [a.id for a in sorted(assets, key=lambda a: (a.name, a.id))]

    seen, cursor = [], ""
    while True:
        resp = await stub.ListAssets(request(page_size=2, cursor=cursor), **call_options(token(USER_A)))
        assert len(resp.assets) <= 2
        seen += [a.id for a in resp.assets]
        cursor = resp.page.next_cursor
        if not cursor:
            break
    assert seen == expected
