"""The page cache's rules (gateway/edge/page_cache.py): which requests are looked up, what spoils a page's recording,
and when a stored page is sent again. tests/e2e/test_page_cache.py checks the same through two real replicas."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator

import grpc
import pytest

from gateway.clients import _call, read_cache
from gateway.edge import freshness
from gateway.edge.metrics import PAGE_CACHE_STALE
from gateway.edge.page_cache import PageCache, _Page, _request_key
from gateway.edge.sessions import Session
from gateway_tests.test_read_cache import ALL, STAFF, Backend
from servicekit.principal import Principal


def scope(path: str = "/", method: str = "GET", cookie: bytes = b"portal_session=abc", query: bytes = b"") -> dict:
    headers = [(b"cookie", cookie)] if cookie else []
    return {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers}


def test_only_signed_in_portal_page_views_are_looked_up() -> None:
    key, token = _request_key(scope(cookie=b"portal_lang=fr; portal_session=abc; portal_rv=123"))
    assert token == "abc"
    # portal_rv is not part of the key (it is compared with the page's start); the other cookies are.
    assert key == _request_key(scope(cookie=b"portal_session=abc; portal_rv=999; portal_lang=fr"))[0]
    assert key != _request_key(scope(cookie=b"portal_session=abc; portal_lang=en"))[0]
    assert key != _request_key(scope(cookie=b"portal_session=abc; portal_lang=fr", query=b"page=2"))[0]
    assert _request_key(scope(method="POST")) is None
    assert _request_key(scope(cookie=b"portal_lang=fr")) is None
    for path in ("/api/v1/tickets", "/staff", "/staff/tickets", "/static/portal.css", "/healthz"):
        assert _request_key(scope(path=path)) is None, path


@pytest.fixture
def cache() -> Iterator[read_cache.ReadCache]:
    """The process's read cache, on and connected, reset afterwards (other tests start gateways that configure it)."""
    c = read_cache.CACHE
    c.configure(max_entries=100, max_bytes=1 << 20, ttl_seconds=30)
    c.events_up()
    yield c
    c.events_down()
    c.configure(max_entries=5000, max_bytes=32 * 1024 * 1024, ttl_seconds=30)


async def recorded(work) -> read_cache.PageDeps:  # noqa: ANN001 - async () -> None
    """What `work` notes, in a task of its own (as one request's context)."""

    async def run() -> read_cache.PageDeps:
        deps = read_cache.record_page()
        await work()
        return deps

    return await asyncio.create_task(run())


async def test_cached_reads_note_their_stamps_and_anything_else_spoils(cache: read_cache.ReadCache) -> None:
    backend = Backend()
    deps = await recorded(lambda: cache.get("t.list", "tickets", (), ALL, backend))
    assert not deps.spoiled and list(deps.stamps) == [("tickets", ("c1", "c2"), "")]
    assert deps.stamps[("tickets", ("c1", "c2"), "")] == cache.current("tickets", ("c1", "c2"))

    # Staff are never cached, so their page is not stored either.
    assert (await recorded(lambda: cache.get("t.list", "tickets", (), STAFF, backend))).spoiled

    async def write() -> None:
        cache.wrote(ALL, "tickets")

    assert (await recorded(write)).spoiled

    async def uncached_read() -> None:
        read_cache.record_size(object())  # the Caller, for a read outside any cached method

    assert (await recorded(uncached_read)).spoiled

    async def failing(request: object, **_: object) -> None:
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")

    async def error() -> None:
        with pytest.raises(grpc.aio.AioRpcError):
            await _call.Caller("tickets", 1.0)(failing, object(), ALL)

    assert (await recorded(error)).spoiled

    async def events_down() -> None:
        cache.events_down()
        try:
            await cache.get("t.list", "tickets", (), ALL, backend)
        finally:
            cache.events_up()

    assert (await recorded(events_down)).spoiled


def session(permissions: frozenset[str] = frozenset({"tickets.view_all"}), token: str = ALL) -> Session:
    principal = Principal(kind="portal_user", subject_id="u1", customer_id="c1", permissions=permissions)
    return Session("h", principal, token, "Acme", "csrf")


def page(stamps: tuple, started_ms: int, filled: float, who: Session | None = None) -> _Page:
    return _Page(who or session(), "controls", stamps, 7, filled, (), started_ms, None, 200, (), b"<p>page</p>")


def test_a_stored_page_is_sent_only_while_everything_it_was_built_from_is_unchanged(
    cache: read_cache.ReadCache,
) -> None:
    pages = PageCache(max_entries=10, max_bytes=1 << 20)
    stamps = ((("tickets", ("c1",), ""), cache.current("tickets", ("c1",))),)
    key = ("/", b"", b"portal_session=abc", b"")
    pages.put(key, page(stamps, started_ms=1_000_000, filled=100.0))
    assert pages.get(key, session(), "controls", now=101.0, day=7) is not None
    # The same session loaded again carries a newly signed principal token: the page is still its page.
    assert pages.get(key, session(token=ALL + "-signed-again"), "controls", now=101.0, day=7) is not None
    # Another session or principal, other controls, another day, past the TTL: not sent.
    assert pages.get(key, session(frozenset()), "controls", now=101.0, day=7) is None
    assert pages.get(key, session(), "other controls", now=101.0, day=7) is None
    assert pages.get(key, session(), "controls", now=101.0, day=8) is None
    assert pages.get(key, session(), "controls", now=100.0 + cache.ttl, day=7) is None
    # This browser wrote after the page was begun (its portal_rv cookie): not sent.
    token = freshness._current.set(freshness._Request(last_write_ms=1_000_000))
    try:
        assert pages.get(key, session(), "controls", now=131.0, day=7) is None
    finally:
        freshness._current.reset(token)
    # Another area, or another customer, moving: still sent; the page's own area moving: not.
    cache.bump(("c1",), "billing", reason="event")
    cache.bump(("c9",), "tickets", reason="event")
    assert pages.get(key, session(), "controls", now=101.0, day=7) is not None
    cache.bump(("c1",), "tickets", reason="event")
    assert pages.get(key, session(), "controls", now=131.0, day=7) is None


def test_the_cache_is_bounded_by_pages_and_bytes(cache: read_cache.ReadCache) -> None:
    pages = PageCache(max_entries=3, max_bytes=1 << 20)
    for i in range(5):
        pages.put((f"/{i}", b"", b"", b""), page((), 0, 0.0))
    assert len(pages) == 3
    small = PageCache(max_entries=100, max_bytes=5000)
    for i in range(10):
        small.put((f"/{i}", b"", b"", b""), page((), 0, 0.0))
    assert small.bytes <= 5000 and len(small) < 10


def _stale(reason: str) -> float:
    return PAGE_CACHE_STALE.labels(reason)._value.get()


async def test_a_page_showing_a_list_kept_apart_is_sent_while_its_lease_runs_and_moves_with_a_new_list(
    cache: read_cache.ReadCache,
) -> None:
    asked: list[str] = []

    async def renew(token: str) -> None:
        asked.append(token)

    t = time.monotonic()
    lease = read_cache.Lease(10.0)
    lease.renewed(t, renew)  # the announcements, asked for now: current for 10 s

    async def showing() -> None:
        read_cache.note_page("announcements", lease)

    deps = await recorded(showing)
    assert not deps.spoiled and deps.leases == (lease,)
    pages = PageCache(max_entries=10, max_bytes=1 << 20)
    key = ("/", b"", b"portal_session=abc", b"")
    pages.put(key, dataclasses.replace(page(tuple(deps.stamps.items()), 0, t), leases=deps.leases))
    assert pages.get(key, session(), "controls", now=t + 1, day=7) is not None
    await asyncio.sleep(0)
    assert asked == []  # in the first half of the lease nothing is asked again

    # Past the middle, a view sent from the page asks again beside it, with the viewer's token (once at a time).
    assert pages.get(key, session(), "controls", now=t + 6, day=7) is not None
    assert pages.get(key, session(), "controls", now=t + 6.5, day=7) is not None
    await asyncio.sleep(0)
    assert asked == [ALL]
    # Without an answer, the page ends with the lease: the list may have changed since.
    before = _stale("lease")
    assert pages.get(key, session(), "controls", now=t + 10, day=7) is None
    assert _stale("lease") == before + 1
    # An answer with the same list renews the lease and the page is sent again (not rebuilt on every refresh); a new
    # list moves the area's version instead.
    lease.renewed(t + 9, renew)
    assert pages.get(key, session(), "controls", now=t + 10, day=7) is not None
    before = _stale("changed")
    cache.bump((), "announcements", reason="announcements")
    assert pages.get(key, session(), "controls", now=t + 10, day=7) is None
    assert _stale("changed") == before + 1

    # A page shown after the lease ran out (the list could not be asked for) is not kept; nor after a change this
    # process made to the list, even with an answer asked for before that change.
    stale = read_cache.Lease(10.0)
    stale.renewed(time.monotonic() - 10, renew)
    lease = stale
    assert (await recorded(showing)).spoiled
    lease = read_cache.Lease(10.0)
    asked_before = time.monotonic()
    lease.lapse()
    lease.renewed(asked_before, renew)
    assert (await recorded(showing)).spoiled
    lease.renewed(time.monotonic(), renew)
    assert not (await recorded(showing)).spoiled
