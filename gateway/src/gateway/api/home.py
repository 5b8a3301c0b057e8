"""The portal home's sections as JSON (the same load_home the home page uses)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import problems
from gateway.api.schemas import Home, HomeCredential, HomeSection
from gateway.areas.home import load_home
from gateway.edge.portal_controls import request_controls
from servicekit import permissions as perm

router = APIRouter(prefix="/api/v1", responses=problems(400, 401, 413, 503))


@router.get("/home", tags=["portal"])
async def home(request: Request, session: CurrentSession, backends: Clients) -> Home:
    """The portal home's sections in the order staff set (`order`); a section is null when the user's group does
    not show it or staff disabled it."""
    controls = request_controls(request)
    s = await load_home(backends, session, controls.home_layout if controls is not None else None)

    def section(sec):  # noqa: ANN001, ANN202
        return None if sec is None else HomeSection(available=sec.available, items=sec.items)

    return Home(
        customer_name=session.customer_name,
        display_name=session.principal.display_name,
        can_create_tickets=session.principal.has(perm.TICKETS_CREATE),
        tickets=section(s.tickets),
        invoices=section(s.invoices),
        assets=section(s.assets),
        script_runs=section(s.script_runs),
        attachments=section(s.attachments),
        order=list(s.order),
        credentials=None
        if s.credentials is None
        else HomeSection(
            available=s.credentials.available,
            items=[HomeCredential(id=c.id, name=c.name) for c in s.credentials.items],
        ),
        recent_tickets=section(s.recent_tickets),
        recent_documents=section(s.recent_documents),
        recent_faq=section(s.recent_faq),
        charts=section(s.charts),
        locked_invoices=s.locked_invoices,
    )
