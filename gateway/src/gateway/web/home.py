"""The portal home: what load_home fetched, as the page's sections."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.areas import ticket_statuses
from gateway.areas.home import load_home
from gateway.web.deps import PortalPage, backends, pages
from gateway.web.views import billing as billing_rows
from gateway.web.views.home import home_view
from servicekit import permissions as perm

router = APIRouter(include_in_schema=False)


@router.get("/", name="home")
async def home(request: Request, session: PortalPage) -> Response:
    # Ticket rows show status labels; the list is asked for at most every few seconds (areas/ticket_statuses.py).
    await ticket_statuses.refresh(backends(request).tickets, session.principal_token)
    sections = await load_home(backends(request), session)
    page = pages(request)
    t = page.translator(request)
    return page.render(
        request,
        "home/index.html",
        {
            "sections": home_view(t, sections),
            "billing": billing_rows.home_sections(t, session, sections.billing),
            "can_create": session.principal.has(perm.TICKETS_CREATE),
            "remote_requests": len(r.items) if (r := sections.access_requests) and r.available else 0,
        },
        session=session,
    )
