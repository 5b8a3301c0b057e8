"""BillingService.Search (SPEC H4): proto ⇄ domain; the rules live in `search.service`."""

from __future__ import annotations

import grpc

from billing.search import service as search
from portal.billing.v1 import billing_pb2
from servicekit import search as shared
from servicekit.db import Database


class SearchRpcs:
    db: Database

    async def Search(  # noqa: N802
        self, request: billing_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> billing_pb2.SearchResponse:
        results = await shared.answer(self.db, request.query, kinds=search.KINDS, search=search.search)
        return billing_pb2.SearchResponse(results=results)
