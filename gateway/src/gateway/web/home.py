"""The portal home (SPEC H1, H2): what load_home fetched, in the order staff set (H3), as the page's sections; the
sections again as fragments, and a stream saying which changed (X9), for static/home-live.js.

Live updates: the gateway's one NATS subscription per subject (clients/home_events.py) turns the services' events
(tickets created, commented or closed; invoices, payments and estimates; assets and documents) into section names
for the customer's open home pages. The page then fetches just those sections with its own session. Agents going
online or offline publish no event: the Remote column is as fresh as the last fetch of the assets section.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import nullcontext

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from gateway.areas import ticket_statuses
from gateway.areas.home import KEYS, NOTICES, SECTION_CALLS, TICKET_ROWS, HomeSections, load_home, ordered_keys
from gateway.clients import read_cache
from gateway.clients.home_events import HomeFeed
from gateway.clients.portal_controls import HomeLayout
from gateway.edge.portal_controls import request_controls
from gateway.edge.sessions import Session
from gateway.web import charts_svg, sse
from gateway.web.deps import PortalPage, backends, pages
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from gateway.web.section_cache import CSRF_PLACEHOLDER, SECTIONS, with_token
from gateway.web.tickets import hours_text, priority_label
from gateway.web.views import billing as billing_rows
from gateway.web.views.home import home_view
from servicekit import permissions as perm
from servicekit.card_brands import brand_name

router = APIRouter(include_in_schema=False)

# Events arriving together (a payment pays two invoices) become one "changed" message.
GATHER_SECONDS = 0.3


def layout_of(request: Request) -> HomeLayout | None:
    """Staff's layout as the portal controls carry it (read through the edge's cache, CACHE_SECONDS)."""
    controls = request_controls(request)
    return controls.home_layout if controls is not None else None


def _charts(t: Translator, s: HomeSections) -> dict | None:
    """The charts widget's two SVGs (web/charts_svg.py), or None when there is nothing to plot (the widget hides)."""
    if s.charts is None or not s.charts.available or not s.charts.items:
        return None
    data = s.charts.items[0]
    # The same labels and numbers as the ticket charts page (web/tickets.py).
    pie = charts_svg.pie([(priority_label(t, c.priority), c.count) for c in data.open_by_priority])
    points = [
        (priority_label(t, r.priority), r.mean_hours, hours_text(t, r.mean_hours)) for r in data.resolution_by_priority
    ]
    line = charts_svg.line(points, decimal="," if t.lang == "fr" else ".")
    if not pie.slices and not line.points:
        return None
    return {"pie": pie, "line": line}


def _shortcuts(t: Translator, session: Session) -> list[tuple[str, str]]:
    """Seed 004's shortcuts, each only when the group may use it."""
    p = session.principal
    out = []
    if p.has(perm.TICKETS_CREATE):
        out.append(("/tickets/new", t("home.shortcuts.new_ticket")))
    if p.has(perm.DOCUMENTS_UPLOAD):
        out.append(("/documents#upload-heading", t("home.shortcuts.upload")))
    if p.has(perm.TICKETS_VIEW_ALL) or p.has(perm.TICKETS_VIEW_MINE):
        out.append(("/tickets", t("home.shortcuts.open_tickets")))
    return out


def _options(t: Translator, s: HomeSections) -> list[str] | None:
    if s.payment_options is None:
        return None
    out = []
    for p in s.payment_options:
        what = f"{brand_name(p.brand)} •••• {p.last4}" if p.kind == "card" else t("home.options.ach", last4=p.last4)
        if p.exp_month and p.exp_year:
            what += " " + t("home.options.expires", date=f"{p.exp_month:02d}/{p.exp_year}")
        out.append(f"{p.nickname} — {what}" if p.nickname else what)
    return out


def _context(request: Request, session: Session, s: HomeSections) -> dict:
    t = pages(request).translator(request)
    billing = billing_rows.home_sections(t, session, s.billing)
    if billing is not None:
        # Every name the sections read, also when billing is down (the templates are strict about names).
        empty = {"p": billing_rows.perms(session), "held": set(), "pending": [], "overview": None}
        billing = {**empty, "payments": None, "estimates": None, "invoices": None, **billing}
    if billing is not None and not billing.get("unavailable"):
        summary = s.billing.summary
        billing["held"] = {a.invoice_id for x in summary.pending_payments for a in x.allocations}
        if billing.get("overview") is not None:
            billing["overview"] = {**billing["overview"], "stored_options": _options(t, s)}
    renewal = session.renewal_notice_ends_on
    return {
        "order": s.order,
        "sections": home_view(t, s),
        "billing": billing,
        "charts": _charts(t, s),
        "shortcuts": _shortcuts(t, session),
        "renewal": t("support.renewal_notice", date=t.date(renewal)) if renewal else "",
        # The home places the renewal notice itself (or not: staff may disable it there); base.html skips its own.
        "renewal_on_home": True,
    }


@router.get("/", name="home")
async def home(request: Request, session: PortalPage) -> Response:
    renderer = pages(request)
    t = renderer.translator(request)
    # Ticket rows show status labels; the list is asked for at most every few seconds (areas/ticket_statuses.py).
    with read_cache.recording() as labels:
        await ticket_statuses.refresh(backends(request).tickets, session.principal_token)
    layout = layout_of(request)
    # Each section as kept by the section cache while nothing it was made from changed; the others fetched and
    # rendered (and kept for this user and everyone who sees the same).
    shared = SECTIONS.shared_key(session, t.lang)
    html = _kept(shared, layout, session)
    if shared is not None and _to_build(html, layout, session) and (running := SECTIONS.in_flight(shared)):
        # Another view of someone who sees the same is building sections now (after a change, all of them would):
        # wait for it and take what it kept, still under the cache's rules; build only what is still missing.
        await running
        html = _kept(shared, layout, session)
    with SECTIONS.building(shared) if shared is not None and _to_build(html, layout, session) else nullcontext():
        return await _home_page(request, session, renderer, layout, shared, html, labels)


async def _home_page(  # noqa: PLR0913 - the parts home() gathered
    request: Request,
    session: Session,
    renderer: Pages,
    layout: HomeLayout | None,
    shared: tuple | None,
    html: dict[str, Markup],
    labels: read_cache.PageDeps,
) -> Response:
    s = await load_home(backends(request), session, layout, only=None if not html else _missing(html, layout, session))
    ctx = renderer.context(
        request,
        {
            **_context(request, session, s),
            "remote_requests": len(r.items) if (r := s.access_requests) and r.available else 0,
        },
        session=session,
    )
    if shared is not None:
        ctx["csrf_token"] = CSRF_PLACEHOLDER
    for key in (NOTICES, *s.order):
        if key in html:
            continue
        with read_cache.recording() as drawn:
            text = renderer.fragment(
                "home/_notices.html" if key == NOTICES else "home/_fragments.html", {**ctx, "order": (key,)}
            )
        if shared is None:
            html[key] = Markup(text)  # noqa: S704 - rendered by Jinja
            continue
        html[key] = with_token(text, session)
        if key in SECTION_CALLS:
            made_from = [drawn, *(s.recorded[c] for c in SECTION_CALLS[key] if c in s.recorded)]
            # The ticket rows' status labels: only the ticket sections end with their refresh (every 10 s).
            made_from += [labels] if key in TICKET_ROWS else []
            SECTIONS.put(shared, key, text, _joined(made_from))
    return renderer.render(
        request,
        "home/index.html",
        {
            "order": s.order,
            "notices": html[NOTICES],
            "sections_html": html,
            "can_create": session.principal.has(perm.TICKETS_CREATE),
            # The home places the renewal notice itself (or not: staff may disable it there); base.html skips its own.
            "renewal_on_home": True,
        },
        session=session,
    )


def _kept(shared: tuple | None, layout: HomeLayout | None, session: Session) -> dict[str, Markup]:
    """The sections of this user's home the section cache may send again, by key."""
    if shared is None:
        return {}
    keys = (key for key in (NOTICES, *ordered_keys(layout, session)) if key in SECTION_CALLS)
    found = ((key, SECTIONS.get(shared, key, session)) for key in keys)
    return {key: html for key, html in found if html is not None}


def _missing(kept: dict[str, Markup], layout: HomeLayout | None, session: Session) -> list[str]:
    return [k for k in (NOTICES, *ordered_keys(layout, session)) if k not in kept]


def _to_build(kept: dict[str, Markup], layout: HomeLayout | None, session: Session) -> bool:
    """Whether a section the cache keeps is missing (the others are rendered on every view anyway)."""
    return any(k in SECTION_CALLS for k in _missing(kept, layout, session))


def _joined(parts: list[read_cache.PageDeps]) -> read_cache.PageDeps:
    """One record of everything `parts` recorded (what one section was made from)."""
    out = read_cache.PageDeps(min(p.started_ms for p in parts))
    for p in parts:
        out.absorb(p)
    return out


@router.get("/home/sections")
async def home_sections(request: Request, session: PortalPage) -> Response:
    """Some of the home's sections (?key=open_tickets&key=…) as HTML, each in its #home-<key> wrapper; unknown keys
    and sections the user does not see are left out."""
    asked = [k for k in request.query_params.getlist("key")[: len(KEYS)] if k in KEYS]
    await ticket_statuses.refresh(backends(request).tickets, session.principal_token)
    s = await load_home(backends(request), session, layout_of(request), only=asked)
    ctx = _context(request, session, s)
    ctx["order"] = tuple(k for k in s.order if k in asked)
    response = pages(request).render(request, "home/_fragments.html", ctx, session=session)
    response.headers["Cache-Control"] = "no-store"
    return response


def feed(request: Request) -> HomeFeed:
    return sse.shared_feed(request, "home_feed", HomeFeed)


async def close_feed(app) -> None:  # noqa: ANN001 - FastAPI app
    await sse.close_shared_feed(app, "home_feed")


@router.get("/home/events")
async def home_events(request: Request, session: PortalPage) -> Response:
    """Server-sent events: `changed` with {"sections": [...]} when a service reports a change for this customer."""
    if (refused := sse.not_a_stream(request)) is not None:
        return refused
    hub = feed(request)
    if (refused := await sse.unavailable(hub, "live home updates")) is not None:
        return refused
    p = session.principal
    customers = list(p.customer_ids or ()) or [p.customer_id]
    shown = set(ordered_keys(layout_of(request), session))

    async def message(first: list[str], queue: asyncio.Queue) -> bytes | None:
        changed = set(first)
        await asyncio.sleep(GATHER_SECONDS)
        while not queue.empty():
            changed |= set(queue.get_nowait())
        keys = [k for k in KEYS if k in changed and k in shown]
        return f"event: changed\ndata: {json.dumps({'sections': keys})}\n\n".encode() if keys else None

    return sse.event_stream(request, hub.listen(customers), message)
