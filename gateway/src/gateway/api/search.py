"""Global search in the JSON API (SPEC H4): `GET /api/v1/search` (portal) and `GET /api/v1/staff/search` (staff,
across customers, in api/staff/search.py) — the same fan-out the pages use (areas/search.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import problems
from gateway.areas import search as area
from gateway.edge.sessions import Session

router = APIRouter(prefix="/api/v1", responses=problems(400, 401, 503))

QueryText = Annotated[
    str,
    Query(
        max_length=area.QUERY_MAX,
        description="What to find: 1 to 200 characters; words match as prefixes, a record number exactly",
    ),
]
Kinds = Annotated[
    list[str],
    Query(
        description=f"Kinds to search (repeat or comma-separate): {', '.join(area.KINDS)}; none = all",
        max_length=len(area.KINDS),
    ),
]


class SearchHit(BaseModel):
    kind: str = Field(description=f"One of {', '.join(area.KINDS)}")
    id: str
    parent_id: str = Field("", description="For a comment: its ticket's id")
    title: str
    snippet: str = Field(description="Plain text around the match, at most 200 characters")
    url: str = Field(description="The page this hit opens ('' when there is none)")
    customer_id: str
    customer_name: str = Field("", description="Staff search only: the customer's name")
    updated_at: datetime | None = None


class SearchGroup(BaseModel):
    kind: str
    hits: list[SearchHit]
    more: bool = Field(description="The service had more matches than it returned")


class SearchAnswer(BaseModel):
    query: str
    groups: list[SearchGroup] = Field(description="One group per kind searched, in a fixed order")
    partial: bool = Field(description="Some area could not be searched just now (see `unsearched`)")
    unsearched: list[str] = Field(description="Areas (tickets, billing, assets) that did not answer in time")


def checked(q: str, kinds: list[str], customer_id: str = "") -> tuple[str, tuple[str, ...], str]:
    try:
        return area.check_query(q), area.check_kinds(kinds), area.check_customer_id(customer_id)
    except area.BadSearch as bad:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(bad)) from None


async def answer(
    request: Request, backends: Clients, session: Session, q: str, kinds: tuple[str, ...], customer_id: str = ""
) -> SearchAnswer:
    found = await area.search(
        backends,
        session,
        q,
        kinds,
        deadline=request.app.state.settings.search_deadline_seconds,
        customer_id=customer_id,
    )
    return SearchAnswer(
        query=found.query,
        groups=[
            SearchGroup(
                kind=g.kind,
                more=g.more,
                hits=[
                    SearchHit(
                        kind=h.kind,
                        id=h.id,
                        parent_id=h.parent_id,
                        title=h.title,
                        snippet=h.snippet,
                        url=h.url,
                        customer_id=h.customer_id,
                        customer_name=h.customer_name,
                        updated_at=h.updated_at,
                    )
                    for h in g.hits
                ],
            )
            for g in found.groups
        ],
        partial=found.partial,
        unsearched=found.unsearched,
    )


@router.get("/search", tags=["search"])
async def search(
    request: Request,
    session: CurrentSession,
    backends: Clients,
    q: QueryText = "",
    kinds: Kinds = [],  # noqa: B006
) -> SearchAnswer:
    """Search everything you may see: tickets, comments, invoices, estimates, payments, assets, documents and
    knowledge-base articles, grouped by kind. A service that does not answer within the search deadline is left
    out: `partial` is true and `unsearched` names its area (never an error)."""
    text, wanted, _ = checked(q, kinds)
    return await answer(request, backends, session, text, wanted)
