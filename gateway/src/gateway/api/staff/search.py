"""Global search for staff in the JSON API (SPEC H4): every customer's records, or one customer's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems
from gateway.api.search import Kinds, QueryText, SearchAnswer, answer, checked

router = APIRouter(prefix="/api/v1/staff", responses=problems(400, 401, 403, 503))


@router.get("/search", tags=["staff: search"])
async def staff_search(
    request: Request,
    session: StaffApiSession,
    backends: Clients,
    q: QueryText = "",
    kinds: Kinds = [],  # noqa: B006
    customer_id: Annotated[str, Query(max_length=64, description="Only this customer's records")] = "",
) -> SearchAnswer:
    """Search every customer's records (or one customer's), each hit with its customer's name; knowledge-base
    articles belong to no customer and are left out when `customer_id` is given. Partial answers as in
    `GET /api/v1/search`."""
    text, wanted, customer = checked(q, kinds, customer_id)
    return await answer(request, backends, session, text, wanted, customer)
