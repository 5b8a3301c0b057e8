"""The JSON API under /api/v1: THE list of its routers (one file per area; staff areas in api/staff/)."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.api import (
    assets,
    billing,
    credentials,
    deps,
    docs,
    documents,
    home,
    knowledge,
    notifications,
    remote,
    search,
    session,
    swagger,
    tickets,
)
from gateway.api.staff import access as staff_access
from gateway.api.staff import assets as staff_assets
from gateway.api.staff import billing as staff_billing
from gateway.api.staff import credentials as staff_credentials
from gateway.api.staff import customers as staff_customers
from gateway.api.staff import documents as staff_documents
from gateway.api.staff import home as staff_home
from gateway.api.staff import knowledge as staff_knowledge
from gateway.api.staff import portal_controls as staff_portal_controls
from gateway.api.staff import portal_settings as staff_portal_settings
from gateway.api.staff import remote as staff_remote
from gateway.api.staff import scripts as staff_scripts
from gateway.api.staff import search as staff_search
from gateway.api.staff import secure_links as staff_secure_links
from gateway.api.staff import session as staff_session
from gateway.api.staff import team as staff_team
from gateway.api.staff import tickets as staff_tickets

ROUTERS = (
    swagger.router,
    session.router,
    home.router,
    tickets.router,
    knowledge.router,
    billing.router,
    billing.webhooks,
    assets.router,
    documents.router,
    notifications.router,
    staff_session.router,
    staff_access.router,
    staff_portal_settings.router,
    staff_customers.router,
    staff_tickets.router,
    staff_knowledge.router,
    staff_billing.router,
    staff_portal_controls.router,
    staff_home.router,
    staff_secure_links.router,
    staff_team.router,
    staff_assets.router,
    staff_documents.router,
    credentials.router,
    staff_credentials.router,
    remote.router,
    staff_remote.router,
    staff_scripts.router,
    search.router,
    staff_search.router,
)


def include(app: FastAPI) -> None:
    deps.install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    docs.describe_bad_requests_as_problems(app)
