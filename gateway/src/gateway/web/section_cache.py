"""The home's sections kept as HTML (issue 16), shared by everyone whose answers the read cache shares.

A new ticket changes the home of every "All" user of its customer: the page cache (edge/page_cache.py) then rebuilds
each of their homes whole, though only the ticket sections changed, and though those sections are the same for all
of them. So each section is also kept on its own, as rendered, under what its HTML depends on:
- the section's key, the language, the customer's name (the invoices' Customer column);
- the read cache's viewer key (clients/read_cache.py: principal kind, customer, the customers "All" covers, the
  permission set, the contact of a "Mine" view): users with the same key get the same answers, hence the same HTML;
- the stamps of every cached read its data came from (`SECTION_CALLS`: the calls of load_home it is made from, each
  recorded apart), and of the ticket-status labels.
The rules for sending it again are the page cache's, per section: every stamp still current, younger than the read
cache's TTL, built the same day, the leases of the lists kept apart that it shows still running (read_cache.Lease),
and begun after this browser's last write (`portal_rv`). A section built from anything the cache could not repeat
(an uncached read, an error) is not kept. The one per-session value a section shows (the form token of a pending
payment's Check status form) is kept as a placeholder and put in when the page is assembled.

After a change, every user who sees the same finds the same sections stale at once: one view builds them while
the others wait for it (at most BUILD_WAIT) and then take what it kept, under the same rules.

A list page is kept the same way (`shared_page`: its head, title and main blocks, under its filters and cursor, put
inside each user's own header): the ticket list after another user's new ticket is built once for everyone who
sees it.

Sections made from the session alone (the renewal notice, the shortcuts) and the announcements are rendered every
time. The cache is bounded by entries and bytes and off with the page cache (GATEWAY_PAGE_CACHE_ENTRIES=0).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from gateway.clients import read_cache
from gateway.edge.metrics import SECTION_CACHE_BYTES, SECTION_CACHE_LOOKUPS, SECTION_CACHE_STALE
from gateway.edge.sessions import Session

if TYPE_CHECKING:
    from gateway.web.render import Pages

# The longest a view waits for another's build of the same sections before building them itself.
BUILD_WAIT = 5.0
# Stands for the session's form token in a kept section (letters and digits: escaping leaves it as it is).
CSRF_PLACEHOLDER = "csrf" + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Section:
    html: str
    stamps: tuple[tuple[tuple[str, tuple[str, ...], str], tuple], ...]
    day: int
    filled: float  # monotonic
    leases: tuple[read_cache.Lease, ...]
    started_ms: int  # wall clock, against portal_rv


class SectionCache:
    def __init__(self, *, max_entries: int = 2000, max_bytes: int = 4 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._sections: OrderedDict[tuple, Section] = OrderedDict()
        self._building: dict[tuple, asyncio.Event] = {}

    def configure(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._sections.clear()
        self.bytes = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0 and read_cache.CACHE.enabled

    def shared_key(self, session: Session, lang: str) -> tuple | None:
        """What every kept section of this user's home is keyed by besides its own key; None: nothing is kept."""
        if not self.enabled:
            return None
        viewer = read_cache.CACHE.viewer(session.principal_token)
        if viewer.key is None:
            return None
        return (viewer.key, lang, session.customer_name)

    def get(self, shared: tuple, key: str | tuple, session: Session) -> Markup | None:
        """The kept HTML of section `key` when it may be sent again (its stamps noted on the page being built)."""
        found = self._sections.get((key, shared))
        if found is None:
            SECTION_CACHE_LOOKUPS.labels("miss").inc()
            return None
        now = time.monotonic()
        reason = "day" if found.day != int(time.time() // 86400) else ""
        reason = reason or read_cache.stale_reason(
            found.stamps, filled=found.filled, leases=found.leases, started_ms=found.started_ms, now=now
        )
        if reason:
            SECTION_CACHE_LOOKUPS.labels("stale").inc()
            SECTION_CACHE_STALE.labels(reason).inc()
            return None
        self._sections.move_to_end((key, shared))
        SECTION_CACHE_LOOKUPS.labels("hit").inc()
        read_cache.renew_ahead(found.leases, session.principal_token, now)
        page = read_cache.page_deps()
        if page is not None:
            for dep, stamp in found.stamps:
                page.note(*dep, stamp)
            page.hold(found.leases)
        return with_token(found.html, session)

    def put(self, shared: tuple, key: str | tuple, html: str, deps: read_cache.PageDeps) -> None:
        """Keep `html`, rendered (with CSRF_PLACEHOLDER for the form token) from what `deps` recorded."""
        if deps.spoiled:
            return
        section = Section(
            html=html,
            stamps=tuple(deps.stamps.items()),
            day=int(time.time() // 86400),
            filled=time.monotonic(),
            leases=deps.leases,
            started_ms=deps.started_ms,
        )
        size = len(html) + 600
        old = self._sections.pop((key, shared), None)
        if old is not None:
            self.bytes -= len(old.html) + 600
        if size > self.max_bytes:
            return
        self._sections[(key, shared)] = section
        self.bytes += size
        while len(self._sections) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._sections.popitem(last=False)
            self.bytes -= len(evicted.html) + 600
        SECTION_CACHE_BYTES.set(self.bytes)

    def __len__(self) -> int:
        return len(self._sections)

    # --- one build at a time per shared key -----------------------------------------------------------------------

    def in_flight(self, shared: tuple) -> Awaitable[None] | None:
        """While a view is building sections for `shared`: an awaitable that ends when it has (at most BUILD_WAIT
        seconds later). After a change every user who sees the same finds the same sections stale at once; one
        builds them, the others wait and take what it kept."""
        done = self._building.get(shared)
        return None if done is None else _wait(done)

    @contextmanager
    def building(self, shared: tuple) -> Iterator[None]:
        if shared in self._building:
            yield
            return
        done = self._building[shared] = asyncio.Event()
        try:
            yield
        finally:
            del self._building[shared]
            done.set()


# The blocks of a page kept by shared_page, in the order they are kept (joined by NUL, which no page contains).
_PAGE_BLOCKS = ("head", "title", "main")


async def shared_page(
    request: Request,
    renderer: Pages,
    session: Session,
    name: str,
    key: tuple,
    build: Callable[[], Awaitable[dict[str, Any]]],
) -> HTMLResponse:
    """Page template `name` with the context `build()` makes, its head, title and main blocks kept as a section
    under `key` (what the page shows besides the session: its filters, its cursor): sent again to everyone who sees
    the same, in their own header, while what `build()` read is unchanged (a list page after another user's write
    is then built once for all of them). `build()` must make every read the blocks show."""
    shared = SECTIONS.shared_key(session, renderer.translator(request).lang)
    if shared is None:
        return renderer.render(request, name, await build(), session=session)
    part = ("page", name, key)
    found = SECTIONS.get(shared, part, session)
    if found is None and (running := SECTIONS.in_flight((shared, part))) is not None:
        await running
        found = SECTIONS.get(shared, part, session)
    if found is None:
        with SECTIONS.building((shared, part)), read_cache.recording() as deps:
            ctx = renderer.context(request, await build(), session=session)
            ctx["csrf_token"] = CSRF_PLACEHOLDER
            text = "\0".join(renderer.blocks(name, ctx, _PAGE_BLOCKS))
        SECTIONS.put(shared, part, text, deps)
        found = with_token(text, session)
    head, title, main = (Markup(b) for b in found.split("\0"))  # noqa: S704 - rendered by Jinja
    return renderer.render(
        request, "shared_page.html", {"head_html": head, "title_html": title, "main_html": main}, session=session
    )


async def _wait(done: asyncio.Event) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), BUILD_WAIT)


def with_token(html: str, session: Session) -> Markup:
    """A section rendered with the placeholder, with this session's form token in its place."""
    return Markup(html.replace(CSRF_PLACEHOLDER, str(escape(session.csrf_token))))  # noqa: S704 - rendered by Jinja


# The one section cache of this process (the lifespan configures it with the page cache's settings).
SECTIONS = SectionCache()
