"""The portal home's sections, fetched concurrently, one backend call each; pages and the API share it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.clients import Backends
from gateway.sessions import Session
from servicekit import permissions as perm

log = logging.getLogger(__name__)

HOME_TICKETS = 20
HOME_ROWS = 10


@dataclass(frozen=True, slots=True)
class Section:
    available: bool
    items: list[Any]


@dataclass(frozen=True, slots=True)
class HomeSections:
    tickets: Section | None
    invoices: Section | None
    assets: Section | None
    script_runs: Section | None


def allowed_sections(session: Session) -> dict[str, bool]:
    p = session.principal
    return {
        "tickets": p.has(perm.TICKETS_VIEW_ALL) or p.has(perm.TICKETS_VIEW_MINE),
        "invoices": p.has(perm.INVOICES_VIEW_ALL) or p.has(perm.INVOICES_VIEW_MINE),
        "assets": p.has(perm.ASSETS_VIEW_ALL) or p.has(perm.ASSETS_VIEW_MINE),
        "script_runs": p.has(perm.ASSETS_RUN_SCRIPT),
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
    return Section(available=True, items=page.items)


async def _none() -> None:
    return None


async def load_home(backends: Backends, session: Session) -> HomeSections:
    allowed = allowed_sections(session)
    token = session.principal_token
    calls = {
        "tickets": lambda: backends.tickets.list_tickets(token, page_size=HOME_TICKETS, open_only=True),
        "invoices": lambda: backends.billing.list_open_invoices(token, page_size=HOME_ROWS),
        "assets": lambda: backends.assets.list_assets(token, page_size=HOME_ROWS),
        "script_runs": lambda: backends.remote.list_script_runs(token, page_size=HOME_ROWS),
    }
    results = await asyncio.gather(
        *(_section(name, make()) if allowed[name] else _none() for name, make in calls.items())
    )
    return HomeSections(*results)
