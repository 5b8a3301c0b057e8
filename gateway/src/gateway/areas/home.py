"""The portal home's sections and widgets (SPEC H1, H2) in the order staff set (H3), fetched concurrently, one
backend call each; pages, the JSON API and the live updates (X9) share it.

A section the group does not allow, or that staff disabled, is None and not fetched; a service that is down
gives its own sections `available=False` (the page says "unavailable" there and nowhere else).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc

from gateway.areas.remote import AgentLine, agent_line
from gateway.clients import Backends, read_cache
from gateway.clients.portal_controls import HomeLayout
from gateway.clients.read_cache import PageDeps
from gateway.clients.schemas import Invoice, Page
from gateway.edge.sessions import Session
from servicekit import permissions as perm
from servicekit.home_layout import KEYS

log = logging.getLogger(__name__)

HOME_TICKETS = 20
HOME_ROWS = 10
# Seed 004: the recent tickets, documents and FAQ widgets show five each.
WIDGET_ROWS = 5
# How many of the newest invoices are looked at for "paid, but its ticket is still open" (the lock, seed 000).
LOCK_LOOKBACK = 20

BILLING_KEYS = ("account_overview", "open_invoices", "recent_payments", "estimates")
# Not a section: the notices above them (staff's pending remote access requests, payments still at the processor).
NOTICES = "_notices"
# The calls of load_home each part of the page is made from (what its HTML depends on, web/section_cache.py); a key
# not listed is made from the session alone.
SECTION_CALLS: dict[str, tuple[str, ...]] = {
    "account_overview": ("billing", "options"),
    "open_invoices": ("billing", "tickets", "paid", "names"),
    "recent_payments": ("billing",),
    "estimates": ("billing",),
    "open_tickets": ("tickets",),
    "attachments": ("attachments",),
    "assets": ("assets",),
    "script_runs": ("script_runs",),
    "credentials": ("credentials",),
    "charts": ("charts",),
    "recent_tickets": ("recent_tickets",),
    "recent_documents": ("recent_documents",),
    "recent_faq": ("recent_faq",),
    NOTICES: ("billing", "access_requests"),
}
# The sections whose rows show a ticket's status (labels from areas/ticket_statuses.py).
TICKET_ROWS = frozenset({"open_tickets", "recent_tickets"})
# Seed 004's widgets; the other keys are the modules of seed 000 (the console labels them so).
WIDGETS = ("renewal_notice", "announcements", "shortcuts", "charts", "recent_tickets", "recent_documents", "recent_faq")


def kind_of(key: str) -> str:
    return "widget" if key in WIDGETS else "module"


def move(items: tuple[tuple[str, bool], ...], key: str, direction: str) -> tuple[tuple[str, bool], ...]:
    """The layout with `key` swapped with its neighbour ("up" or "down"); unchanged at an end or for an unknown key."""
    out = list(items)
    at = next((i for i, (k, _) in enumerate(out) if k == key), None)
    step = {"up": -1, "down": 1}.get(direction)
    if at is None or step is None or not 0 <= at + step < len(out):
        return tuple(out)
    out[at], out[at + step] = out[at + step], out[at]
    return tuple(out)


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
    credentials: Section | None = None
    recent_tickets: Section | None = None
    recent_documents: Section | None = None
    recent_faq: Section | None = None
    # One item: tickets' TicketCharts.
    charts: Section | None = None
    # The assets' agents by asset id (the Remote column); None when remote did not answer.
    agents: dict[str, AgentLine] | None = None
    # Paid invoices whose ticket is still open (the lock icon of seed 000), newest first.
    locked_invoices: list[Invoice] = field(default_factory=list)
    # Customer names by id for the invoices' Customer column (the user's own customer and its subsidiaries).
    customer_names: dict[str, str] = field(default_factory=dict)
    # The stored payment options (billing's PaymentProfile messages) beside the account overview, when the group may
    # manage them; None otherwise or when billing did not answer.
    payment_options: list[Any] | None = None
    # The keys to show, in order: enabled by staff and allowed by the group.
    order: tuple[str, ...] = ()
    # What each call read, by call name (SECTION_CALLS), for the home's section cache (web/section_cache.py).
    recorded: dict[str, PageDeps] = field(default_factory=dict)


def _any(p, *names: str) -> bool:  # noqa: ANN001 - Principal
    return any(p.has(n) for n in names)


def allowed_keys(session: Session) -> dict[str, bool]:
    """Which of the home's sections and widgets the user's group allows (the services check again)."""
    p = session.principal
    tickets = _any(p, perm.TICKETS_VIEW_ALL, perm.TICKETS_VIEW_MINE)
    attachments = p.has(perm.ATTACHMENTS_VIEW_PUBLIC)
    return {
        "renewal_notice": True,
        "announcements": True,
        "shortcuts": tickets or _any(p, perm.TICKETS_CREATE, perm.DOCUMENTS_UPLOAD),
        "account_overview": p.has(perm.ACCOUNT_OVERVIEW_VIEW),
        "open_tickets": tickets,
        "open_invoices": _any(p, perm.INVOICES_VIEW_ALL, perm.INVOICES_VIEW_MINE),
        "recent_payments": _any(p, perm.PAYMENTS_VIEW_ALL, perm.PAYMENTS_VIEW_MINE),
        "estimates": _any(p, perm.ESTIMATES_VIEW_ALL, perm.ESTIMATES_VIEW_MINE),
        "attachments": attachments,
        "assets": _any(p, perm.ASSETS_VIEW_ALL, perm.ASSETS_VIEW_MINE),
        "script_runs": p.has(perm.ASSETS_RUN_SCRIPT),
        "credentials": _any(p, perm.CREDENTIALS_VIEW_ALL, perm.CREDENTIALS_VIEW_MINE),
        "charts": tickets,
        "recent_tickets": tickets,
        "recent_documents": attachments,
        "recent_faq": p.has(perm.KNOWLEDGE_BASE_VIEW),
    }


def allowed_sections(session: Session) -> dict[str, bool]:
    """The backend calls the group allows at all (kept for the callers that ask by call name)."""
    keys = allowed_keys(session)
    return {
        "tickets": keys["open_tickets"],
        "billing": any(keys[k] for k in BILLING_KEYS),
        "assets": keys["assets"],
        "script_runs": keys["script_runs"],
        "attachments": keys["attachments"],
        "access_requests": keys["assets"],
    }


def ordered_keys(layout: HomeLayout | None, session: Session) -> tuple[str, ...]:
    """The keys the home shows, in the configured order: enabled by staff, allowed by the group. A key identity does
    not list (older identity) is appended enabled; a key the gateway does not know is skipped."""
    allowed = allowed_keys(session)
    items = list(layout.items) if layout is not None else []
    listed = {k for k, _ in items}
    items += [(k, True) for k in KEYS if k not in listed]
    return tuple(k for k, enabled in items if enabled and k in allowed and allowed[k])


async def _recorded(name: str, make: Callable[[], Awaitable[Any]], deps: dict[str, PageDeps]) -> Section | None:
    """One call, in a task of its own, with what it read recorded apart (`HomeSections.recorded`)."""
    with read_cache.recording() as recorded:
        deps[name] = recorded
        return await _section(name, make())


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
    # Lists come as a Page of items; one message (billing's summary, the charts) is kept whole as the only item.
    return Section(available=True, items=page.items if isinstance(page, Page) else [page])


async def _none() -> None:
    return None


async def _quiet(call: Awaitable[Any], default: Any) -> Any:  # noqa: ANN401
    """An extra that only decorates a section (the lock icons, subsidiaries' names): missing is not an error."""
    try:
        return await call
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return default


async def _assets_with_agents(backends: Backends, token: str) -> tuple[Any, dict[str, AgentLine] | None]:
    page = await backends.assets.list_assets(token, page_size=HOME_ROWS)
    ids = [a.id for a in page.items]
    if not ids:
        return page, {}
    try:
        agents = await backends.remote.list_agents(token, asset_ids=ids)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return page, None
    return page, {i: agent_line(agents, i) for i in ids}


async def load_home(
    backends: Backends,
    session: Session,
    layout: HomeLayout | None = None,
    *,
    only: Iterable[str] | None = None,
) -> HomeSections:
    """The home's sections in the layout's order; `only` limits the fetching to these keys (a live update; NOTICES
    for the notices above the sections)."""
    order = ordered_keys(layout, session)
    wanted = set(order) if only is None else set(order) & set(only)
    notices = only is None or NOTICES in only
    token = session.principal_token
    # Payments still at the processor are shown above the sections whenever billing's sections are on the home.
    billing_wanted = bool(wanted & set(BILLING_KEYS)) or (notices and bool(set(order) & set(BILLING_KEYS)))
    tickets_wanted = "open_tickets" in wanted or ("open_invoices" in wanted and allowed_keys(session)["open_tickets"])
    calls: dict[str, tuple[bool, Callable[[], Awaitable[Any]]]] = {
        "tickets": (
            tickets_wanted,
            lambda: backends.tickets.list_tickets(token, page_size=HOME_TICKETS, open_only=True),
        ),
        # Account overview, open invoices, recent payments and estimates: one call, each section as the group allows.
        "billing": (billing_wanted, lambda: backends.billing.portal_summary(token, rows=HOME_ROWS)),
        "assets": ("assets" in wanted, lambda: _assets_with_agents(backends, token)),
        "script_runs": ("script_runs" in wanted, lambda: backends.remote.list_script_runs(token, page_size=HOME_ROWS)),
        "attachments": ("attachments" in wanted, lambda: backends.documents.list(token, page_size=HOME_ROWS)),
        "access_requests": (
            notices and allowed_keys(session)["assets"],
            lambda: backends.remote.list_access_requests(token, status="pending", page_size=HOME_ROWS),
        ),
        "credentials": ("credentials" in wanted, lambda: backends.credentials.list(token, page_size=HOME_ROWS)),
        "recent_tickets": (
            "recent_tickets" in wanted,
            lambda: backends.tickets.list_tickets(token, page_size=WIDGET_ROWS, sort="updated"),
        ),
        "recent_documents": (
            "recent_documents" in wanted,
            lambda: backends.documents.list(token, page_size=WIDGET_ROWS, newest_first=True),
        ),
        "recent_faq": ("recent_faq" in wanted, lambda: backends.knowledge.list_articles(token, page_size=WIDGET_ROWS)),
        "charts": ("charts" in wanted, lambda: backends.knowledge.ticket_charts(token)),
        "options": (
            "account_overview" in wanted and session.principal.has(perm.PAYMENT_OPTIONS_MANAGE),
            lambda: _quiet(backends.billing.profiles(token), None),
        ),
        "paid": (
            "open_invoices" in wanted and tickets_wanted,
            lambda: _quiet(backends.billing.list_invoices(token, page_size=LOCK_LOOKBACK), None),
        ),
    }
    recorded: dict[str, PageDeps] = {}
    results = await asyncio.gather(
        *(_recorded(name, make, recorded) if on else _none() for name, (on, make) in calls.items())
    )
    got = dict(zip(calls, results, strict=True))

    assets, agents = got["assets"], None
    if assets is not None and assets.available:
        page, agents = assets.items[0]
        assets = Section(True, page.items)
    billing = got["billing"]
    summary = (
        BillingSummary(available=billing.available, summary=billing.items[0] if billing.items else None)
        if billing
        else None
    )
    tickets = got["tickets"]
    invoices = _open_invoices(billing, session) if "open_invoices" in wanted else None
    locked = _locked(got["paid"], tickets)
    with read_cache.recording() as recorded["names"]:
        names = await _customer_names(backends, session, invoices, locked)
    options = got["options"]
    payment_options = (
        list(options.items[0].profiles) if options is not None and options.available and options.items[0] else None
    )
    return HomeSections(
        tickets=tickets if "open_tickets" in wanted else None,
        invoices=invoices,
        assets=assets,
        script_runs=got["script_runs"],
        billing=summary,
        attachments=got["attachments"],
        access_requests=got["access_requests"],
        credentials=got["credentials"],
        recent_tickets=got["recent_tickets"],
        recent_documents=got["recent_documents"],
        recent_faq=got["recent_faq"],
        charts=got["charts"],
        agents=agents,
        locked_invoices=locked,
        customer_names=names,
        payment_options=payment_options,
        order=order,
        recorded=recorded,
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


def _locked(paid: Section | None, tickets: Section | None) -> list[Invoice]:
    """Paid invoices whose ticket is among the open tickets (seed 000: the Paid column's lock icon)."""
    if paid is None or not paid.available or not paid.items or tickets is None or not tickets.available:
        return []
    resp = paid.items[0]
    if resp is None:
        return []
    open_ids = {t.id for t in tickets.items}
    return [
        Invoice.from_proto(i) for i in resp.invoices if i.status == "paid" and i.ticket_id and i.ticket_id in open_ids
    ]


async def _customer_names(
    backends: Backends, session: Session, invoices: Section | None, locked: list[Invoice]
) -> dict[str, str]:
    own = session.principal.customer_id
    names = {own: session.customer_name} if own else {}
    rows = [*(invoices.items if invoices is not None else []), *locked]
    others = sorted({i.customer_id for i in rows if i.customer_id and i.customer_id not in names})
    looked = await asyncio.gather(
        *(_quiet(backends.identity.customer_name_and_warning(session.principal_token, c), ("", "")) for c in others)
    )
    names.update({c: n for c, (n, _) in zip(others, looked, strict=True) if n})
    return names
