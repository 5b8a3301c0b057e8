"""portal.assets.v1.AssetsService: proto ⇄ domain; the rules live in the aggregates' service modules."""

from __future__ import annotations

import grpc
from sqlalchemy import Row

from assets.assets import importing
from assets.assets import service as assets
from assets.assets.models import Asset
from assets.search.rpcs import SearchRpcs
from assets.sites import service as sites
from assets.sites.models import Site
from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit.db import Database
from servicekit.pagination import page_size
from servicekit.principal import current_principal
from servicekit.protos import timestamp


class AssetsServicer(SearchRpcs, assets_pb2_grpc.AssetsServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListAssets(
        self, request: assets_pb2.ListAssetsRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.ListAssetsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.read() as conn:
            page = await assets.list_assets(
                conn,
                principal=principal,
                page_size=size,
                cursor=request.page.cursor,
                query=request.query,
                mine_only=request.mine_only,
                site_id=request.site_id,
                customer_id=request.customer_id,
                include_retired=request.include_retired,
            )
        return assets_pb2.ListAssetsResponse(
            assets=[_asset(a) for a in page.assets],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def GetAsset(
        self, request: assets_pb2.GetAssetRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.GetAssetResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            out = _asset(await assets.get_asset(s, principal=principal, asset_id=request.asset_id))
        return assets_pb2.GetAssetResponse(asset=out)

    async def CreateSite(
        self, request: assets_pb2.CreateSiteRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.CreateSiteResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            site = await sites.create_site(
                s,
                principal=principal,
                customer_id=request.customer_id,
                name=request.name,
                address=request.address,
                idempotency_key=request.idempotency_key,
            )
            out = _site(site)
        return assets_pb2.CreateSiteResponse(site=out)

    async def CreateAsset(
        self, request: assets_pb2.CreateAssetRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.CreateAssetResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            asset = await assets.create_asset(
                s,
                principal=principal,
                customer_id=request.customer_id,
                name=request.name,
                site_id=request.site_id,
                contact_id=request.contact_id,
                serial_number=request.serial_number,
                asset_type=request.asset_type,
                notes=request.notes,
                custom_fields=[_field_dict(f) for f in request.custom_fields],
                idempotency_key=request.idempotency_key,
            )
            out = _asset(asset)
        return assets_pb2.CreateAssetResponse(asset=out)

    async def UpdateAsset(
        self, request: assets_pb2.UpdateAssetRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.UpdateAssetResponse:
        principal = current_principal()
        changes = {name: getattr(request, name) for name in assets.STAFF_FIELDS if request.HasField(name)}
        async with self.db.unit_of_work() as s:
            asset = await assets.update_asset(
                s,
                principal=principal,
                asset_id=request.asset_id,
                changes=changes,
                custom_fields=[_field_dict(f) for f in request.custom_fields]
                if request.replace_custom_fields
                else None,
                custom_field_values=dict(request.custom_field_values),
            )
            out = _asset(asset)
        return assets_pb2.UpdateAssetResponse(asset=out)

    async def RetireAsset(
        self, request: assets_pb2.RetireAssetRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.RetireAssetResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            asset = await assets.retire_asset(
                s, principal=principal, asset_id=request.asset_id, retired=request.retired
            )
            out = _asset(asset)
        return assets_pb2.RetireAssetResponse(asset=out)

    async def DeleteAsset(
        self, request: assets_pb2.DeleteAssetRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.DeleteAssetResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await assets.delete_asset(s, principal=principal, asset_id=request.asset_id)
        return assets_pb2.DeleteAssetResponse()

    async def ImportAssetsCsv(
        self, request: assets_pb2.ImportAssetsCsvRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.ImportAssetsCsvResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            result = await importing.import_csv(
                s,
                principal=principal,
                customer_id=request.customer_id,
                data=request.csv,
                idempotency_key=request.idempotency_key,
            )
            out = assets_pb2.ImportAssetsCsvResponse(
                assets=[_asset(a) for a in result.assets],
                errors=[assets_pb2.ImportRowError(row=e.row, field=e.field, detail=e.detail) for e in result.errors],
                sites_created=result.sites_created,
            )
        return out

    async def ListSites(
        self, request: assets_pb2.ListSitesRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.ListSitesResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await sites.list_sites(
                s, principal=principal, page_size=size, cursor=request.page.cursor, customer_id=request.customer_id
            )
            out = [_site(x) for x in page.sites]
        return assets_pb2.ListSitesResponse(sites=out, page=common_pb2.PageResponse(next_cursor=page.next_cursor))

    async def GetSite(
        self, request: assets_pb2.GetSiteRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.GetSiteResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            out = _site(await sites.get_site(s, principal=principal, site_id=request.site_id))
        return assets_pb2.GetSiteResponse(site=out)

    async def UpdateSite(
        self, request: assets_pb2.UpdateSiteRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.UpdateSiteResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            site = await sites.update_site(
                s,
                principal=principal,
                site_id=request.site_id,
                name=request.name if request.HasField("name") else None,
                address=request.address if request.HasField("address") else None,
            )
            out = _site(site)
        return assets_pb2.UpdateSiteResponse(site=out)

    async def DeleteSite(
        self, request: assets_pb2.DeleteSiteRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.DeleteSiteResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await sites.delete_site(s, principal=principal, site_id=request.site_id)
        return assets_pb2.DeleteSiteResponse()

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


def _field_dict(f: assets_pb2.CustomField) -> dict:
    return {"name": f.name, "value": f.value, "editable_by_customer": f.editable_by_customer}


def _asset(a: Asset | Row) -> assets_pb2.Asset:
    msg = assets_pb2.Asset(
        id=a.id,
        customer_id=a.customer_id,
        contact_id=a.contact_id or "",
        site_id=a.site_id or "",
        name=a.name,
        serial_number=a.serial_number,
        asset_type=a.asset_type,
        notes=a.notes or "",
        custom_fields=[
            assets_pb2.CustomField(
                name=f.get("name", ""),
                value=f.get("value", ""),
                editable_by_customer=bool(f.get("editable_by_customer")),
            )
            for f in a.custom_fields or []
        ],
    )
    if a.retired_at is not None:
        msg.retired_at.CopyFrom(timestamp(a.retired_at))
    if a.created_at is not None:
        msg.created_at.CopyFrom(timestamp(a.created_at))
    return msg


def _site(s: Site) -> assets_pb2.Site:
    return assets_pb2.Site(id=s.id, customer_id=s.customer_id, name=s.name, address=s.address)
