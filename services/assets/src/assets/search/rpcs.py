"""AssetsService.Search (SPEC H4): proto ⇄ domain; the rules live in `search.service`."""

from __future__ import annotations

import grpc

from assets.search import service as search
from portal.assets.v1 import assets_pb2
from servicekit import search as shared
from servicekit.db import Database


class SearchRpcs:
    db: Database

    async def Search(  # noqa: N802
        self, request: assets_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> assets_pb2.SearchResponse:
        results = await shared.answer(self.db, request.query, kinds=search.KINDS, search=search.search)
        return assets_pb2.SearchResponse(results=results)
