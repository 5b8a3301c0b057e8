"""Global search (SPEC H4) in the authorisation matrix: `/search` and `/api/v1/search` open for every signed-in
portal user — what each service answers is filtered by the user's own permissions and customers (the services'
tests and tests/e2e/test_search.py check that no other customer's record appears). The staff routes
(/staff/search, /api/v1/staff/search) fall under routes_account's STAFF_PREFIXES."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from portal.common.v1 import search_pb2
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from tests.authz.harness import SIGNED_IN, Route


@dataclass(frozen=True)
class SearchRoute(Route):
    """A search route asked with a query (the API refuses an empty one with 400)."""

    def url(self, record: str | dict[str, str] = "") -> str:
        return f"{self.path}?q=probe"


def grpc_search(addr, token: str, _: str) -> None:  # noqa: ANN001
    with grpc.insecure_channel(addr("tickets"), options=[("grpc.enable_http_proxy", 0)]) as channel:
        tickets_pb2_grpc.TicketsServiceStub(channel).Search(
            tickets_pb2.SearchRequest(query=search_pb2.SearchQuery(query="probe")),
            timeout=10,
            metadata=(("authorization", f"Bearer {token}"),),
        )


ROUTES = [
    SearchRoute("GET", "/search", SIGNED_IN, grpc=grpc_search),
    SearchRoute("GET", "/api/v1/search", SIGNED_IN, grpc=grpc_search),
]
