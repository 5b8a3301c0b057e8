"""AssetsService: the principal's assets."""

from __future__ import annotations

import grpc

from gateway.clients._call import Caller
from gateway.clients.schemas import Asset, Page
from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.common.v1 import common_pb2


class AssetsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = assets_pb2_grpc.AssetsServiceStub(channel)
        self._call = Caller("assets", timeout)

    async def list_assets(self, token: str, *, page_size: int = 0, cursor: str = "") -> Page[Asset]:
        req = assets_pb2.ListAssetsRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))
        resp = await self._call(self._stub.ListAssets, req, token)
        return Page(items=[Asset.from_proto(a) for a in resp.assets], next_cursor=resp.page.next_cursor or None)

    async def site_is_customers(self, token: str, *, customer_id: str, site_id: str) -> bool:
        """Whether the site belongs to the customer (asked by staff before a site's secure link is made)."""
        req = assets_pb2.CheckCustomerRefsRequest(customer_id=customer_id, site_id=site_id)
        return (await self._call(self._stub.CheckCustomerRefs, req, token)).site_ok
