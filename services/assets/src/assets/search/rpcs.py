"""AssetsService.Search (SPEC H4): proto ⇄ domain; the rules live in `search.service`."""

from __future__ import annotations

import grpc

from assets.search import service as search
from portal.assets.v1 import assets_pb2
from servicekit.db import Database
from servicekit.principal import current_principal
from servicekit.search import parse_query


class SearchRpcs:
    db: Database

    async def Search(  # noqa: N802
        self, request: assets_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.SearchResponse:
        principal = current_principal()
        query = parse_query(request.query, kinds=search.KINDS, staff=principal.is_staff)
        async with self.db.read() as conn:
            results = await search.search(conn, principal=principal, query=query)
        return assets_pb2.SearchResponse(results=results.to_proto())
