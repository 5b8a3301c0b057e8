"""Global search (SPEC H4): what every service's Search RPC takes and answers (portal/common/v1/search.proto), as
the gateway's clients share it. Each client's `search()` wraps its own service's SearchRequest around the query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.clients.schemas import opt_datetime
from portal.common.v1 import search_pb2

SearchQuery = search_pb2.SearchQuery


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: str
    id: str
    parent_id: str
    title: str
    snippet: str
    customer_id: str
    updated_at: datetime | None
    rank: float


@dataclass(frozen=True, slots=True)
class SearchResults:
    hits: list[SearchHit]
    truncated_kinds: list[str]


def query(text: str, kinds: Sequence[str], *, limit_per_kind: int = 0, customer_id: str = "") -> search_pb2.SearchQuery:
    return search_pb2.SearchQuery(query=text, kinds=list(kinds), limit_per_kind=limit_per_kind, customer_id=customer_id)


def results(msg: search_pb2.SearchResults) -> SearchResults:
    return SearchResults(
        hits=[
            SearchHit(
                kind=h.kind,
                id=h.id,
                parent_id=h.parent_id,
                title=h.title,
                snippet=h.snippet,
                customer_id=h.customer_id,
                updated_at=opt_datetime(h, "updated_at"),
                rank=h.rank,
            )
            for h in msg.hits
        ],
        truncated_kinds=list(msg.truncated_kinds),
    )
