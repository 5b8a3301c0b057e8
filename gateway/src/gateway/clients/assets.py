"""AssetsService: assets and sites (SPEC A1–A3, T8)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import grpc

from gateway.clients import search
from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import Asset, CustomField, Page, Site
from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.common.v1 import common_pb2

# The asset fields staff set besides the custom fields (assets.assets.service.STAFF_FIELDS).
STAFF_FIELDS = ("name", "serial_number", "asset_type", "site_id", "contact_id", "notes")


@dataclass(frozen=True)
class ImportRowError:
    row: int
    field: str
    detail: str


@dataclass(frozen=True)
class ImportResult:
    assets: list[Asset]
    errors: list[ImportRowError] = field(default_factory=list)
    sites_created: int = 0


def _fields(fields: Iterable[CustomField]) -> list[assets_pb2.CustomField]:
    return [
        assets_pb2.CustomField(name=f.name, value=f.value, editable_by_customer=f.editable_by_customer) for f in fields
    ]


class AssetsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = assets_pb2_grpc.AssetsServiceStub(channel)
        self._call = Caller("assets", timeout)

    async def search(self, token: str, query: search.SearchQuery, *, deadline: float) -> search.SearchResults:
        """Global search (SPEC H4) in this service's records, within `deadline` seconds."""
        resp = await self._call(self._stub.Search, assets_pb2.SearchRequest(query=query), token, deadline=deadline)
        return search.results(resp.results)

    @cached("assets")
    async def list_assets(
        self,
        token: str,
        *,
        page_size: int = 0,
        cursor: str = "",
        query: str = "",
        mine_only: bool = False,
        site_id: str = "",
        customer_id: str = "",
        include_retired: bool = False,
    ) -> Page[Asset]:
        req = assets_pb2.ListAssetsRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor),
            query=query,
            mine_only=mine_only,
            site_id=site_id,
            customer_id=customer_id,
            include_retired=include_retired,
        )
        resp = await self._call(self._stub.ListAssets, req, token)
        return Page(items=[Asset.from_proto(a) for a in resp.assets], next_cursor=resp.page.next_cursor or None)

    async def get_asset(self, token: str, asset_id: str) -> Asset:
        resp = await self._call(self._stub.GetAsset, assets_pb2.GetAssetRequest(asset_id=asset_id), token)
        return Asset.from_proto(resp.asset)

    async def create_asset(
        self,
        token: str,
        *,
        customer_id: str,
        name: str,
        site_id: str = "",
        contact_id: str = "",
        serial_number: str = "",
        asset_type: str = "",
        notes: str = "",
        custom_fields: Iterable[CustomField] = (),
        idempotency_key: str = "",
    ) -> Asset:
        req = assets_pb2.CreateAssetRequest(
            customer_id=customer_id,
            name=name,
            site_id=site_id,
            contact_id=contact_id,
            serial_number=serial_number,
            asset_type=asset_type,
            notes=notes,
            custom_fields=_fields(custom_fields),
            idempotency_key=idempotency_key,
        )
        return Asset.from_proto((await self._call(self._stub.CreateAsset, req, token)).asset)

    async def update_asset(
        self,
        token: str,
        asset_id: str,
        *,
        changes: Mapping[str, str] | None = None,
        custom_fields: Iterable[CustomField] | None = None,
        custom_field_values: Mapping[str, str] | None = None,
    ) -> Asset:
        """`changes`: staff fields (STAFF_FIELDS) to set; `custom_fields` replaces the list; `custom_field_values`
        sets values of existing custom fields by name (all a customer may send)."""
        req = assets_pb2.UpdateAssetRequest(
            asset_id=asset_id,
            replace_custom_fields=custom_fields is not None,
            custom_fields=_fields(custom_fields or ()),
            custom_field_values=dict(custom_field_values or {}),
            **{k: v for k, v in (changes or {}).items() if k in STAFF_FIELDS},
        )
        return Asset.from_proto((await self._call(self._stub.UpdateAsset, req, token)).asset)

    async def retire_asset(self, token: str, asset_id: str, *, retired: bool) -> Asset:
        req = assets_pb2.RetireAssetRequest(asset_id=asset_id, retired=retired)
        return Asset.from_proto((await self._call(self._stub.RetireAsset, req, token)).asset)

    async def delete_asset(self, token: str, asset_id: str) -> None:
        await self._call(self._stub.DeleteAsset, assets_pb2.DeleteAssetRequest(asset_id=asset_id), token)

    async def import_csv(self, token: str, *, customer_id: str, data: bytes, idempotency_key: str = "") -> ImportResult:
        req = assets_pb2.ImportAssetsCsvRequest(customer_id=customer_id, csv=data, idempotency_key=idempotency_key)
        resp = await self._call(self._stub.ImportAssetsCsv, req, token)
        return ImportResult(
            assets=[Asset.from_proto(a) for a in resp.assets],
            errors=[ImportRowError(e.row, e.field, e.detail) for e in resp.errors],
            sites_created=resp.sites_created,
        )

    @cached("assets")
    async def list_sites(
        self, token: str, *, page_size: int = 0, cursor: str = "", customer_id: str = ""
    ) -> Page[Site]:
        req = assets_pb2.ListSitesRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor), customer_id=customer_id
        )
        resp = await self._call(self._stub.ListSites, req, token)
        return Page(items=[Site.from_proto(s) for s in resp.sites], next_cursor=resp.page.next_cursor or None)

    async def get_site(self, token: str, site_id: str) -> Site:
        resp = await self._call(self._stub.GetSite, assets_pb2.GetSiteRequest(site_id=site_id), token)
        return Site.from_proto(resp.site)

    async def create_site(
        self, token: str, *, customer_id: str, name: str, address: str = "", idempotency_key: str = ""
    ) -> Site:
        req = assets_pb2.CreateSiteRequest(
            customer_id=customer_id, name=name, address=address, idempotency_key=idempotency_key
        )
        return Site.from_proto((await self._call(self._stub.CreateSite, req, token)).site)

    async def update_site(
        self, token: str, site_id: str, *, name: str | None = None, address: str | None = None
    ) -> Site:
        req = assets_pb2.UpdateSiteRequest(site_id=site_id)
        if name is not None:
            req.name = name
        if address is not None:
            req.address = address
        return Site.from_proto((await self._call(self._stub.UpdateSite, req, token)).site)

    async def delete_site(self, token: str, site_id: str) -> None:
        await self._call(self._stub.DeleteSite, assets_pb2.DeleteSiteRequest(site_id=site_id), token)

    async def site_is_customers(self, token: str, *, customer_id: str, site_id: str) -> bool:
        """Whether the site belongs to the customer (asked by staff before a site's secure link is made)."""
        req = assets_pb2.CheckCustomerRefsRequest(customer_id=customer_id, site_id=site_id)
        return (await self._call(self._stub.CheckCustomerRefs, req, token)).site_ok
