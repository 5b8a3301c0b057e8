"""The gateway's read cache (issue 16): portal users' answers to the read calls the home and the main lists make, kept
in memory and served again while nothing they depend on has changed.

What an answer depends on:
- the call and its arguments (every argument of the client method is in the key);
- who asks, as far as the service's visibility rules go: the principal's kind, customer, the customers "All" covers,
  its permission set, its contact when a "Mine" permission is held, a secure link's scope (and its subject). The
  principal token identity signed is decoded (never trusted from a client: the gateway only ever holds tokens it got
  from identity) and its visibility memoised per token;
- the version of (customer, area) for each customer the principal sees, area = the backend service. A version moves
  on every event of that service about that customer (`portal.<service>.<name>.v1`, clients/change_feed.py), on an
  event without a customer for every customer (global things: ticket statuses, scripts, articles...), and at once on
  every write this gateway makes (the Caller calls `wrote`), whose change other replicas hear as `gateway.changed`.

A hit needs the same versions, an entry younger than the safety TTL, the event subscription connected without a
break since the entry was filled, and no write by the same browser after the fill (the `portal_rv` cookie,
edge/freshness.py). Staff and service principals are never cached, nor are errors. Concurrent misses of one key
share one backend call. The LRU is bounded by entries and by approximate bytes (the answers' wire size times a
factor for their Python form).

Cached results are shared between requests: code reading them must not change them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from gateway.edge import freshness
from gateway.edge.metrics import READ_CACHE_BYTES, READ_CACHE_ENTRIES, READ_CACHE_INVALIDATIONS, READ_CACHE_LOOKUPS

AREAS = ("identity", "tickets", "billing", "assets", "remote")
# Principals whose answers are cached: a portal user's and a secure link's. Staff pages always go straight through.
_CACHED_KINDS = frozenset({"portal_user", "secure_link"})
# How much memory a cached answer takes compared with its protobuf wire size: a page of 25 tickets as the client's
# pydantic models measured 15.4x with tracemalloc (86.7 KB for 5.6 KB on the wire); protobuf messages kept whole
# (billing's summary) take less. Over-counting only makes the bound tighter.
BYTES_FACTOR = 16
_ENTRY_OVERHEAD = 600
# Clock skew allowed between replicas when comparing the portal_rv cookie (another replica's clock) with a fill time.
SKEW_MARGIN_MS = 1000
# Principal tokens are ~700 characters and rotate with the principal cache: a small memo, cleared when full.
_VIEWERS_LIMIT = 2000

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


# Areas whose answers a "Mine" principal sees only for its own contact, by the permissions that make it so (the
# services' visibility rules): its answers there then move only on changes naming its contact (EventMeta.contact_ids)
# or naming no contact, not on every change of the customer. Only tickets: its events name the ticket's contact.
_CONTACT_SCOPED: dict[str, tuple[str, str]] = {"tickets": ("tickets.view_all", "tickets.view_mine")}


@dataclass(frozen=True, slots=True)
class Viewer:
    """What an answer for this principal may depend on; `key` is None for principals that are never cached."""

    key: tuple | None
    customers: tuple[str, ...]
    staff: bool
    # The contact whose "Mine" view this principal has, and the areas where its answers depend on that view only.
    contact: str = ""
    scoped: frozenset[str] = frozenset()
    # Who the principal is itself (contact, subject): what a "mine only" filter of a View All user depends on
    # (`personal`), though nothing else of its answers does.
    me: tuple[str, str] = ("", "")

    def contact_in(self, area: str) -> str:
        """The contact this viewer's answers in `area` are limited to; "" when they may show any contact's records."""
        return self.contact if area in self.scoped else ""


_NOBODY = Viewer(None, (), False)


def _contacts_of_write(viewer: Viewer, area: str, answer: Any) -> tuple[str, ...]:  # noqa: ANN401
    """The contacts whose "Mine" answers a portal user's write in `area` concerns (the event about it will name the
    same): in a contact-scoped area, the contact of the ticket the answer carries (a new ticket is in its contact's
    "Mine" only, whoever opened it), else the writer's own contact when its view there is "Mine" (it can only write
    to its own contact's records); () — any contact — otherwise, and whenever unsure."""
    if area not in _CONTACT_SCOPED:
        return ()
    ticket = getattr(answer, "ticket", None)
    if ticket is not None:
        contact = getattr(ticket, "contact_id", "")
        return (contact,) if isinstance(contact, str) and contact else ()
    return (viewer.contact,) if area in viewer.scoped else ()


def _claims(token: str) -> dict[str, Any] | None:
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None


def viewer_of(token: str) -> Viewer:
    claims = _claims(token) if token else None
    if not isinstance(claims, dict):
        return _NOBODY
    kind = claims.get("knd", "")
    customer = str(claims.get("cus", ""))
    customers = tuple(str(c) for c in claims.get("cids", ()) or ())
    covered = tuple(dict.fromkeys((customer, *customers))) if customer else customers
    if kind not in _CACHED_KINDS:
        return Viewer(None, covered, kind in ("staff", "service"))
    permissions = tuple(sorted(str(p) for p in claims.get("prm", ()) or ()))
    # A "Mine" permission makes answers depend on the user's contact, and so does paying online without seeing all
    # payments (billing shows a payer its own payments); a link's answers depend on its scope and its own subject.
    own_payments = "invoices.pay_online" in permissions and "payments.view_all" not in permissions
    contact = str(claims.get("ctc", "")) if own_payments or any(p.endswith("_mine") for p in permissions) else ""
    link = (claims.get("lti", ""), claims.get("lsi", ""), claims.get("sub", "")) if kind == "secure_link" else ()
    key = (kind, customer, customers, permissions, contact, link)
    # A portal user with a contact whose group gives "Mine" but not "All" in an area (a secure link keeps its own
    # scope, and a user without a contact sees what it created: both move with every change of the customer).
    scoped = frozenset(
        area
        for area, (view_all, view_mine) in _CONTACT_SCOPED.items()
        if kind == "portal_user" and contact and view_mine in permissions and view_all not in permissions
    )
    return Viewer(key, covered, False, contact, scoped, (str(claims.get("ctc", "")), str(claims.get("sub", ""))))


def personal(arguments: tuple) -> bool:
    """A call's arguments ((positional...), ((name, value)...)) ask for the principal's own records only (the
    tickets list's `mine_only`): its answer then depends on who the principal is, even for a View All user."""
    named = arguments[1] if len(arguments) == 2 and isinstance(arguments[1], tuple) else ()
    return any(isinstance(pair, tuple) and len(pair) == 2 and pair[0] == "mine_only" and pair[1] for pair in named)


class Lease:
    """How long a copy kept outside the read cache is known to be current: the ticket statuses and the announcements,
    lists each process asks for again every few seconds since no event announces their changes. A page or a section
    showing the copy notes its lease (`note_page`) and is sent again only before `until` (monotonic).

    A refresh that finds the copy unchanged renews the lease (`renewed`), so everything kept with it stays valid; one
    that finds a change moves the copy's area version as well, which ends what was kept with the old copy. Renewal
    starts ahead of the end, in the background, on any view that uses the copy in the second half of its term — a view
    sent from a stored page too (`renew_ahead`) — so under steady traffic the kept pages do not all lapse together
    every term, to be rebuilt at once."""

    __slots__ = ("term", "until", "_lapsed", "_renew", "_task", "_tried")

    def __init__(self, term: float) -> None:
        self.term = term
        self.until = float("-inf")
        self._lapsed = float("-inf")
        self._tried = float("-inf")
        self._renew: Callable[[str], Awaitable[None]] | None = None
        self._task: asyncio.Task[None] | None = None

    def renewed(self, asked: float, renew: Callable[[str], Awaitable[None]]) -> None:
        """The copy was asked for at `asked` (monotonic, when the ask began) and is now current; `renew(token)` asks
        again (it handles its own errors: a failed ask simply leaves the lease to run out). An ask begun before the
        last `lapse` renews nothing: it may have read the copy as it was before the change."""
        self._renew = renew
        self._tried = max(self._tried, asked)
        if asked > self._lapsed:
            self.until = max(self.until, asked + self.term)

    def failed(self, asked: float) -> None:
        """An ask begun at `asked` got no answer: the lease runs out as it was, and is not asked for again for half a
        term."""
        self._tried = max(self._tried, asked)

    def lapse(self) -> None:
        """This process changed what the copy holds: nothing kept with the copy is sent again."""
        self.until = float("-inf")
        self._lapsed = time.monotonic()

    def renew_ahead(self, token: str, now: float) -> None:
        """In the second half of the term, start asking again beside the page (with this viewer's token): one ask at a
        time, and after a failed one not again for half a term."""
        if self._renew is None or not token or now < self.until - self.term / 2 or now - self._tried < self.term / 2:
            return
        if self._task is not None and not self._task.done():
            return
        self._tried = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the event loop (a sync render in a worker thread): the next view renews
            return
        self._task = loop.create_task(self._run(self._renew, token))

    @staticmethod
    async def _run(renew: Callable[[str], Awaitable[None]], token: str) -> None:
        try:
            await renew(token)
        except Exception:  # a background task: nobody awaits it, and the lease simply runs out
            log.warning("a list kept apart could not be asked for again", exc_info=True)


class PageDeps:
    """What one page view read, for the page cache (edge/page_cache.py): the (area, customers) → stamp of every cached
    read it made, the leases of the copies it showed (`Lease`), and whether anything else happened that a stored page
    could not repeat (`spoiled`): a read that is not cached, a read the cache bypassed, a backend error (a section
    saying "unavailable"), a write."""

    __slots__ = ("stamps", "spoiled", "started_ms", "leases")

    def __init__(self, started_ms: int) -> None:
        self.stamps: dict[tuple[str, tuple[str, ...], str], tuple] = {}
        self.spoiled = False
        self.started_ms = started_ms
        self.leases: tuple[Lease, ...] = ()

    def note(self, area: str, customers: tuple[str, ...], contact: str, stamp: tuple) -> None:
        # Two reads of one area with different stamps (a change arrived mid-page): keep the older; the page is then
        # never served again, since the current stamp differs from it.
        self.stamps.setdefault((area, customers, contact), stamp)

    def hold(self, leases: Iterable[Lease]) -> None:
        for lease in leases:
            if lease not in self.leases:
                self.leases = (*self.leases, lease)

    def absorb(self, other: PageDeps) -> None:
        """Add what `other` recorded (a part of this page, recorded apart: `recording`)."""
        for dep, stamp in other.stamps.items():
            self.stamps.setdefault(dep, stamp)
        self.spoiled = self.spoiled or other.spoiled
        self.hold(other.leases)
        self.started_ms = min(self.started_ms, other.started_ms)


_page: ContextVar[PageDeps | None] = ContextVar("page_deps", default=None)


def record_page() -> PageDeps:
    """Start recording what this request (and the tasks it starts) reads; the page cache's miss path calls it."""
    deps = PageDeps(int(time.time() * 1000))
    _page.set(deps)
    return deps


def stale_reason(
    stamps: Iterable[tuple[tuple, tuple]], *, filled: float, leases: Iterable[Lease], started_ms: int, now: float
) -> str:
    """Why something built from cached reads (a page, a home section; the caller checks the day) may not be sent again
    at `now` (monotonic), or "" when it may: "changed" (a stamp it noted is no longer current), "own_write" (begun
    before this browser's last write: portal_rv, with the replicas' clock margin), "lease" (a list kept apart that it
    shows may have changed since: `Lease`) or "age" (older than the TTL). When several hold, the first of these is
    given: the metrics then tell a change apart from an expiry that hid it."""
    if not all(CACHE.current(*dep) == stamp for dep, stamp in stamps):
        return "changed"
    written = freshness.last_write_ms()
    if written and started_ms <= written + SKEW_MARGIN_MS:
        return "own_write"
    if any(now >= lease.until for lease in leases):
        return "lease"
    if now - filled >= CACHE.ttl:
        return "age"
    return ""


def renew_ahead(leases: Iterable[Lease], token: str, now: float) -> None:
    """Something kept with these leases is being sent again: renew those past the middle of their term."""
    for lease in leases:
        lease.renew_ahead(token, now)


@contextmanager
def recording() -> Iterator[PageDeps]:
    """Record what the code inside reads apart from the rest of the page (a section of the home, kept on its own:
    web/section_cache.py), then add it to the page's own record. Inside a task of its own (asyncio.gather), only that
    task's reads are recorded."""
    parent = _page.get()
    deps = PageDeps(int(time.time() * 1000))
    token = _page.set(deps)
    try:
        yield deps
    finally:
        _page.reset(token)
        if parent is not None:
            parent.absorb(deps)


def page_deps() -> PageDeps | None:
    """What the current page view has recorded so far (None outside one)."""
    return _page.get()


def note_page(area: str, lease: Lease) -> None:
    """This request's page shows a copy kept outside the cache under `lease` (the ticket statuses, the announcements),
    whose refresh moves `area`'s version for every customer when the copy changed: a stored page is not sent after
    such a change, nor once the lease has run out. A page shown while the lease has already run out (the copy could
    not be refreshed) is not stored."""
    deps = _page.get()
    if deps is not None:
        stamp = CACHE.current(area, ())
        if stamp is None or time.monotonic() >= lease.until:
            deps.spoiled = True
        else:
            deps.note(area, (), "", stamp)
            deps.hold((lease,))


def spoil_page() -> None:
    """Something this request did cannot be repeated from a stored page (see PageDeps)."""
    deps = _page.get()
    if deps is not None:
        deps.spoiled = True


class ReadCache:
    def __init__(
        self,
        *,
        max_entries: int = 5000,
        max_bytes: int = 16 * 1024 * 1024,
        ttl_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl_seconds
        self._clock = clock
        self._wall_ms = wall_ms
        # key -> (stamp, filled at (monotonic), fill started (wall ms), size, value)
        self._entries: OrderedDict[tuple, tuple[tuple, float, int, int, Any]] = OrderedDict()
        self.bytes = 0
        # Per (customer, area): every change; the changes naming no contact; per (customer, area, contact): the
        # changes naming that contact. An "All" answer needs the first unchanged, a contact-scoped "Mine" answer the
        # other two (see Viewer.scoped).
        self._versions: dict[tuple[str, str], int] = {}
        self._unscoped: dict[tuple[str, str], int] = {}
        self._contacts: dict[tuple[str, str, str], int] = {}
        self._area_epochs: dict[str, int] = dict.fromkeys(AREAS, 0)
        # Moves whenever the event subscription drops: nothing filled before a gap in the events can be trusted.
        self._events_epoch = 0
        self.events_connected = False
        self._inflight: dict[tuple, tuple[asyncio.Future, int]] = {}
        self._viewers: dict[str, Viewer] = {}
        # Set by the change feed: called with (customer ids or () for all, area, contact ids or () for any) after a
        # local write.
        self.announce: Callable[[tuple[str, ...], str, tuple[str, ...]], None] | None = None
        self._hit = READ_CACHE_LOOKUPS.labels("hit")
        self._miss = READ_CACHE_LOOKUPS.labels("miss")

    def configure(self, *, max_entries: int, max_bytes: int, ttl_seconds: float) -> None:
        self.max_entries, self.max_bytes, self.ttl = max_entries, max_bytes, ttl_seconds
        self._entries.clear()
        self.bytes = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.ttl > 0

    def viewer(self, token: str) -> Viewer:
        v = self._viewers.get(token)
        if v is None:
            if len(self._viewers) >= _VIEWERS_LIMIT:
                self._viewers.clear()
            v = self._viewers[token] = viewer_of(token)
        return v

    # --- versions -------------------------------------------------------------------------------------------------

    def current(self, area: str, customers: tuple[str, ...], contact: str = "") -> tuple | None:
        """The stamp a cached read of `area` for these customers (and this "Mine" contact, Viewer.contact_in) would
        need now; None while nothing may be served (the cache is off or the event subscription is down)."""
        if not self.enabled or not self.events_connected:
            return None
        return self._stamp(area, customers, contact)

    def _stamp(self, area: str, customers: tuple[str, ...], contact: str = "") -> tuple:
        head = (self._events_epoch, self._area_epochs.get(area, 0))
        if contact:
            u, k = self._unscoped, self._contacts
            return (*head, *((u.get((c, area), 0), k.get((c, area, contact), 0)) for c in customers))
        v = self._versions
        return (*head, *(v.get((c, area), 0) for c in customers))

    def bump(self, customers: Iterable[str], area: str, *, reason: str, contacts: Iterable[str] = ()) -> None:
        """`customers` empty: every customer's version of the area (a change with no customer, or a staff write).
        `contacts`: the contacts whose "Mine" answers the change concerns (empty: any contact's)."""
        customers = tuple(customers)
        contacts = tuple(c for c in contacts if c)
        if not customers:
            self._area_epochs[area] = self._area_epochs.get(area, 0) + 1
        for c in customers:
            self._versions[(c, area)] = self._versions.get((c, area), 0) + 1
            if not contacts:
                self._unscoped[(c, area)] = self._unscoped.get((c, area), 0) + 1
            for k in contacts:
                self._contacts[(c, area, k)] = self._contacts.get((c, area, k), 0) + 1
        READ_CACHE_INVALIDATIONS.labels(area, reason).inc()

    def wrote(self, token: str | None, area: str, answer: Any = None) -> None:  # noqa: ANN401 - any message
        """A write this gateway made through `area`'s backend (`answer`: the backend's answer when it succeeded): bump
        here at once, tell the other replicas, and mark the request so its answer sets the browser's portal_rv
        cookie."""
        spoil_page()
        viewer = self.viewer(token) if token else _NOBODY
        # A portal user's write touches its own customers; a staff, service or anonymous one (a webhook) any customer.
        customers = viewer.customers if viewer.key is not None else ()
        contacts = _contacts_of_write(viewer, area, answer) if customers else ()
        self.bump(customers, area, reason="local_write", contacts=contacts)
        freshness.mark_write(self._wall_ms())
        if self.announce is not None:
            self.announce(customers, area, contacts)

    def events_up(self) -> None:
        self._events_epoch += 1
        self.events_connected = True

    def events_down(self) -> None:
        self._events_epoch += 1
        self.events_connected = False

    # --- lookups --------------------------------------------------------------------------------------------------

    async def get(
        self, name: str, area: str, arguments: tuple, token: str, call: Callable[[], Awaitable[tuple[R, int]]]
    ) -> R:
        """`call()` asks the backend and answers (result, approximate bytes)."""
        viewer = self.viewer(token)
        page = _page.get()
        if viewer.key is None:
            READ_CACHE_LOOKUPS.labels("bypass_staff" if viewer.staff else "bypass_principal").inc()
            return await self._uncached(page, call)
        if not self.enabled:
            READ_CACHE_LOOKUPS.labels("bypass_disabled").inc()
            return await self._uncached(page, call)
        if not self.events_connected:
            READ_CACHE_LOOKUPS.labels("bypass_events_down").inc()
            return await self._uncached(page, call)
        key = (name, arguments, viewer.key, viewer.me if personal(arguments) else ())
        contact = viewer.contact_in(area)
        stamp = self._stamp(area, viewer.customers, contact)
        if page is not None:
            page.note(area, viewer.customers, contact, stamp)
        # Entries begun before this browser's last write (another replica's clock, hence the margin) are not used.
        written = freshness.last_write_ms()
        not_before = written + SKEW_MARGIN_MS if written else 0
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp and self._clock() - entry[1] < self.ttl:
            if entry[2] > not_before:
                self._entries.move_to_end(key)
                self._hit.inc()
                return entry[4]
            READ_CACHE_LOOKUPS.labels("bypass_recent_write").inc()
            if page is not None:
                page.spoiled = True
        else:
            self._miss.inc()
        inflight_key = (key, stamp)
        running = self._inflight.get(inflight_key)
        if running is not None and running[1] > not_before:
            try:
                return await asyncio.shield(running[0])
            except _LeaderFailed:
                return (await call())[0]
        started_ms = self._wall_ms()
        fut = asyncio.get_running_loop().create_future()
        self._inflight[inflight_key] = (fut, started_ms)
        try:
            value, size = await call()
        except BaseException:
            fut.set_exception(_LeaderFailed())
            fut.exception()  # retrieved: a fill nobody joined must not log "exception never retrieved"
            raise
        finally:
            if self._inflight.get(inflight_key, (None,))[0] is fut:
                del self._inflight[inflight_key]
        fut.set_result(value)
        # Only when nothing moved while the call ran: an answer begun before a change must not pass for after it.
        if self.events_connected and self._stamp(area, viewer.customers, contact) == stamp:
            self._store(key, (stamp, self._clock(), started_ms, size, value))
        return value

    @staticmethod
    async def _uncached(page: PageDeps | None, call: Callable[[], Awaitable[tuple[R, int]]]) -> R:
        if page is not None:
            page.spoiled = True
        return (await call())[0]

    def _store(self, key: tuple, entry: tuple) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[3]
        size = entry[3]
        if size > self.max_bytes:
            return
        self._entries[key] = entry
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted[3]
        READ_CACHE_ENTRIES.set(len(self._entries))
        READ_CACHE_BYTES.set(self.bytes)

    def __len__(self) -> int:
        return len(self._entries)


class _LeaderFailed(Exception):
    """The call a follower waited on failed; the follower asks for itself (errors are never shared or cached)."""


# The one cache of this process (the lifespan configures it from the settings; clients reach it through here).
_sizes: ContextVar[list[int] | None] = ContextVar("read_cache_sizes", default=None)
CACHE = ReadCache()


def record_size(response: Any) -> None:
    """Called by the Caller with each read's answer: while a cached call runs, its wire size is the entry's measure;
    outside one, the read is not cached and the page that made it cannot be stored (PageDeps)."""
    sizes = _sizes.get()
    if sizes is None:
        spoil_page()
    else:
        try:
            sizes.append(response.ByteSize())
        except AttributeError:
            sizes.append(1024)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_hashable(v) for v in value)
    return value


def cached(area: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Opt a client's read method into the cache: `async def m(self, token, *args, **kwargs)` whose arguments after
    the token are plain values (they are the arguments' part of the key) and whose result is what is cached."""

    def decorate(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        name = f"{area}.{method.__qualname__}"

        @functools.wraps(method)
        async def wrapper(self: Any, token: str, *args: Any, **kwargs: Any) -> R:
            async def call() -> tuple[R, int]:
                sizes: list[int] = []
                holder = _sizes.set(sizes)
                try:
                    value = await method(self, token, *args, **kwargs)
                finally:
                    _sizes.reset(holder)
                return value, _ENTRY_OVERHEAD + BYTES_FACTOR * (sum(sizes) if sizes else 1024)

            arguments = (_hashable(args), tuple(sorted((k, _hashable(v)) for k, v in kwargs.items())))
            return await CACHE.get(name, area, arguments, token, call)

        return wrapper  # type: ignore[return-value]

    return decorate
