"""The server-rendered pages: THE list of page routers (one per area; staff pages under web/staff)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.web import (
    account,
    announcements,
    assets,
    billing,
    credentials,
    deps,
    documents,
    home,
    knowledge,
    notifications,
    pwa,
    remote,
    search,
    secure_links,
    session,
    tickets,
    tickets_live,
)
from gateway.web.render import STATIC_DIR
from gateway.web.staff import access as staff_access
from gateway.web.staff import assets as staff_assets
from gateway.web.staff import billing as staff_billing
from gateway.web.staff import credentials as staff_credentials
from gateway.web.staff import customers as staff_customers
from gateway.web.staff import documents as staff_documents
from gateway.web.staff import home as staff_home
from gateway.web.staff import remote as staff_remote
from gateway.web.staff import scripts as staff_scripts
from gateway.web.staff import search as staff_search
from gateway.web.staff import secure_links as staff_secure_links
from gateway.web.staff import session as staff_session
from gateway.web.staff import team as staff_team
from gateway.web.staff import tickets as staff_tickets

ROUTERS = (
    session.router,
    home.router,
    billing.router,
    knowledge.router,
    tickets.router,
    tickets_live.router,
    remote.router,
    assets.router,
    documents.router,
    account.router,
    notifications.router,
    pwa.router,
    secure_links.router,
    staff_session.router,
    staff_home.router,
    staff_tickets.router,
    staff_customers.router,
    staff_access.router,
    staff_secure_links.router,
    staff_billing.router,
    staff_team.router,
    staff_assets.router,
    staff_remote.router,
    staff_scripts.router,
    staff_documents.router,
    credentials.router,
    staff_credentials.router,
    search.router,
    staff_search.router,
)
PAGE_ERRORS = deps.PageErrors()


def include(app: FastAPI) -> None:
    announcements.install(app)
    deps.install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


async def close(app: FastAPI) -> None:
    """What the pages hold open beyond a request: the live ticket and home feeds."""
    await tickets_live.close_feed(app)
    await home.close_feed(app)
