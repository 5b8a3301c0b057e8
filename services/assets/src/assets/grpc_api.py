"""portal.assets.v1.AssetsService: proto ⇄ domain; the rules live in the aggregates' service modules."""

from __future__ import annotations

import grpc
from sqlalchemy import Row

from assets.assets import service as assets
from assets.assets.models import Asset
from assets.sites import service as sites
from assets.sites.models import Site
from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit.db import Database
from servicekit.pagination import page_size
from servicekit.principal import current_principal


class AssetsServicer(assets_pb2_grpc.AssetsServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListAssets(
        self, request: assets_pb2.ListAssetsRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.ListAssetsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.read() as conn:
            page = await assets.list_assets(conn, principal=principal, page_size=size, cursor=request.page.cursor)
        return assets_pb2.ListAssetsResponse(
            assets=[_asset(a) for a in page.assets],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def CreateSite(
        self, request: assets_pb2.CreateSiteRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.CreateSiteResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            site = await sites.create_site(
                s, principal=principal, customer_id=request.customer_id, name=request.name, address=request.address
            )
            out = _site(site)
        return assets_pb2.CreateSiteResponse(site=out)

    async def CreateAsset(
        self, request: assets_pb2.CreateAssetRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.CreateAssetResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            asset = await sites.create_asset(
                s,
                principal=principal,
                customer_id=request.customer_id,
                name=request.name,
                site_id=request.site_id,
                contact_id=request.contact_id,
                serial_number=request.serial_number,
                asset_type=request.asset_type,
            )
            out = _asset(asset)
        return assets_pb2.CreateAssetResponse(asset=out)

    async def CheckCustomerRefs(
        self, request: assets_pb2.CheckCustomerRefsRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.CheckCustomerRefsResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            check = await sites.check_customer_refs(
                s,
                principal=principal,
                customer_id=request.customer_id,
                site_id=request.site_id,
                asset_id=request.asset_id,
            )
        return assets_pb2.CheckCustomerRefsResponse(site_ok=check.site_ok, asset_ok=check.asset_ok)


def _asset(a: Asset | Row) -> assets_pb2.Asset:
    return assets_pb2.Asset(
        id=a.id,
        customer_id=a.customer_id,
        contact_id=a.contact_id or "",
        site_id=a.site_id or "",
        name=a.name,
        serial_number=a.serial_number,
        asset_type=a.asset_type,
    )


def _site(s: Site) -> assets_pb2.Site:
    return assets_pb2.Site(id=s.id, customer_id=s.customer_id, name=s.name, address=s.address)
