"""The staff console's home: the newest tickets across customers."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.web.deps import StaffPage
from gateway.web.views.tickets import ticket_row

log = logging.getLogger(__name__)

NEWEST_TICKETS = 50

router = APIRouter(prefix="/staff", include_in_schema=False)


@router.get("")
async def staff_home(request: Request, session: StaffPage) -> Response:
    pages = request.app.state.pages
    backends = request.app.state.backends
    tickets, customers = await asyncio.gather(
        backends.tickets.list_tickets(session.principal_token, page_size=NEWEST_TICKETS),
        backends.identity.list_customers(session.principal_token, page_size=100),
        return_exceptions=True,
    )
    if isinstance(tickets, BaseException):
        raise tickets
    names = {} if isinstance(customers, BaseException) else {c.id: c.display_name for c in customers.items}
    t = pages.translator(request)
    rows = [(ticket_row(t, tk), names.get(tk.customer_id, tk.customer_id), tk.customer_id) for tk in tickets.items]
    return pages.render(request, "staff/home.html", {"rows": rows}, session=session)
