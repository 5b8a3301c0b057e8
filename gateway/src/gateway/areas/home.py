"""The portal home's sections, fetched concurrently, one backend call each; pages and the API share it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.clients import Backends
from gateway.clients.schemas import Invoice, Page
from gateway.edge.sessions import Session
from servicekit import permissions as perm

log = logging.getLogger(__name__)

HOME_TICKETS = 20
HOME_ROWS = 10


@dataclass(frozen=True, slots=True)
class Section:
    available: bool
    items: list[Any]


@dataclass(frozen=True, slots=True)
class BillingSummary:
    """Billing's sections of the home (GetPortalSummaryResponse), or `available=False` when billing is down."""

    available: bool
    summary: Any = None


@dataclass(frozen=True, slots=True)
class HomeSections:
    tickets: Section | None
    # The open invoices of `billing`, as the JSON API's home lists them.
    invoices: Section | None
    assets: Section | None
    script_runs: Section | None
    billing: BillingSummary | None = None
    # The oldest public documents of the customer (SPEC A4, seed 000 "Attachments").
    attachments: Section | None = None
    # Staff's pending remote access requests (X1): the home shows a notice only when there are some.
    access_requests: Section | None = None


def allowed_sections(session: Session) -> dict[str, bool]:
    p = session.principal
    return {
        "tickets": p.has(perm.TICKETS_VIEW_ALL) or p.has(perm.TICKETS_VIEW_MINE),
        "billing": any(
            p.has(x)
            for x in (
                perm.ACCOUNT_OVERVIEW_VIEW,
                perm.INVOICES_VIEW_ALL,
                perm.INVOICES_VIEW_MINE,
                perm.PAYMENTS_VIEW_ALL,
                perm.PAYMENTS_VIEW_MINE,
                perm.ESTIMATES_VIEW_ALL,
                perm.ESTIMATES_VIEW_MINE,
            )
        ),
        "assets": p.has(perm.ASSETS_VIEW_ALL) or p.has(perm.ASSETS_VIEW_MINE),
        "script_runs": p.has(perm.ASSETS_RUN_SCRIPT),
        "attachments": p.has(perm.ATTACHMENTS_VIEW_PUBLIC),
        "access_requests": p.has(perm.ASSETS_VIEW_ALL) or p.has(perm.ASSETS_VIEW_MINE),
    }


async def _section(name: str, call: Awaitable[Any]) -> Section | None:
    try:
        page = await call
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise
        if code == grpc.StatusCode.PERMISSION_DENIED:
            # The service knows the group better than our copy of the rules: hide rather than alarm.
            return None
        log.warning("home section unavailable", extra={"section": name, "code": code.name})
        return Section(available=False, items=[])
    # Lists come as a Page of items; billing's summary is one message, kept whole as the only item.
    return Section(available=True, items=page.items if isinstance(page, Page) else [page])


async def _none() -> None:
    return None


async def load_home(backends: Backends, session: Session) -> HomeSections:
    allowed = allowed_sections(session)
    token = session.principal_token
    calls = {
        "tickets": lambda: backends.tickets.list_tickets(token, page_size=HOME_TICKETS, open_only=True),
        # Account overview, open invoices, recent payments and estimates: one call, each section as the group allows.
        "billing": lambda: backends.billing.portal_summary(token, rows=HOME_ROWS),
        "assets": lambda: backends.assets.list_assets(token, page_size=HOME_ROWS),
        "script_runs": lambda: backends.remote.list_script_runs(token, page_size=HOME_ROWS),
        "attachments": lambda: backends.documents.list(token, page_size=HOME_ROWS),
        "access_requests": lambda: backends.remote.list_access_requests(token, status="pending", page_size=HOME_ROWS),
    }
    tickets, billing, assets, script_runs, attachments, access_requests = await asyncio.gather(
        *(_section(name, make()) if allowed[name] else _none() for name, make in calls.items())
    )
    summary = (
        BillingSummary(available=billing.available, summary=billing.items[0] if billing.items else None)
        if billing
        else None
    )
    return HomeSections(
        tickets=tickets,
        invoices=_open_invoices(billing, session),
        assets=assets,
        script_runs=script_runs,
        billing=summary,
        attachments=attachments,
        access_requests=access_requests,
    )


def _open_invoices(billing: Section | None, session: Session) -> Section | None:
    p = session.principal
    if billing is None or not (p.has(perm.INVOICES_VIEW_ALL) or p.has(perm.INVOICES_VIEW_MINE)):
        return None
    if not billing.available:
        return Section(available=False, items=[])
    summary = billing.items[0]
    if not summary.invoices_shown:
        return None
    return Section(available=True, items=[Invoice.from_proto(i) for i in summary.open_invoices])
