"""The JSON API under /api/v1: THE list of its routers (one file per area; staff areas in api/staff/)."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.api import (
    billing,
    deps,
    home,
    knowledge,
    session,
    staff_billing,
    staff_identity,
    staff_portal_controls,
    staff_secure_links,
    tickets,
)
from gateway.api.staff import knowledge as staff_knowledge
from gateway.api.staff import tickets as staff_tickets

ROUTERS = (
    session.router,
    home.router,
    tickets.router,
    knowledge.router,
    billing.router,
    staff_identity.router,
    staff_tickets.router,
    staff_knowledge.router,
    staff_billing.router,
    staff_portal_controls.router,
    staff_secure_links.router,
)


def include(app: FastAPI) -> None:
    deps.install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
