"""The JSON API under /api/v1: THE list of its routers (one per area; staff areas under api/staff)."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.api import (
    billing,
    deps,
    knowledge,
    routes,
    staff_billing,
    staff_identity,
    staff_portal_controls,
    staff_secure_links,
    tickets,
    tickets_staff,
)

ROUTERS = (
    routes.router,
    staff_identity.router,
    staff_billing.router,
    staff_portal_controls.router,
    staff_secure_links.router,
    billing.router,
    knowledge.router,  # before tickets: /api/v1/tickets/charts is not a ticket id
    tickets.router,
    tickets_staff.router,
)


def include(app: FastAPI) -> None:
    deps.install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
