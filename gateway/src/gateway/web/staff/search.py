"""Global search for staff (SPEC H4): `/staff/search` across every customer, each hit with its customer's name,
narrowed to one customer with `customer_id` (the page's customer list)."""

from __future__ import annotations

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.areas import search as area
from gateway.web.deps import StaffPage
from gateway.web.search import results_page

router = APIRouter(prefix="/staff", include_in_schema=False)

CUSTOMERS_LISTED = 200


@router.get("/search")
async def staff_search(request: Request, session: StaffPage) -> Response:
    try:
        customer_id = area.check_customer_id(request.query_params.get("customer_id", ""))
    except area.BadSearch:
        customer_id = ""
    try:
        page = await request.app.state.backends.identity.list_customers(
            session.principal_token, page_size=CUSTOMERS_LISTED
        )
        customers = [(c.id, c.display_name) for c in page.items]
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        customers = []  # the filter is a convenience: the search works without it
    return await results_page(request, session, staff=True, extra={"customers": customers}, customer_id=customer_id)
