"""BillingService.Search (SPEC H4): proto ⇄ domain; the rules live in `search.service`."""

from __future__ import annotations

import grpc

from billing.search import service as search
from portal.billing.v1 import billing_pb2
from servicekit.db import Database
from servicekit.principal import current_principal
from servicekit.search import parse_query


class SearchRpcs:
    db: Database

    async def Search(  # noqa: N802
        self, request: billing_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> billing_pb2.SearchResponse:
        principal = current_principal()
        query = parse_query(request.query, kinds=search.KINDS, staff=principal.is_staff)
        async with self.db.read() as conn:
            results = await search.search(conn, principal=principal, query=query)
        return billing_pb2.SearchResponse(results=results.to_proto())
