"""The home's section cache (gateway/web/section_cache.py): who shares a kept section, and when it is sent again.
tests/e2e/test_page_cache.py checks the same through two real replicas and real users."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.clients import read_cache
from gateway.edge import freshness
from gateway.edge.sessions import Session
from gateway.web import section_cache
from gateway.web.section_cache import CSRF_PLACEHOLDER, SectionCache
from gateway_tests.test_read_cache import ALL, ALL_OTHER_USER, MINE, MINE_OTHER, STAFF, Backend
from servicekit.principal import Principal


@pytest.fixture
def cache() -> Iterator[read_cache.ReadCache]:
    c = read_cache.CACHE
    c.configure(max_entries=100, max_bytes=1 << 20, ttl_seconds=30)
    c.events_up()
    yield c
    c.events_down()
    c.configure(max_entries=5000, max_bytes=32 * 1024 * 1024, ttl_seconds=30)


async def _never(token: str) -> None:
    raise AssertionError("no renewal expected")


def session(token: str, csrf: str = "csrf-1", customer_name: str = "Acme") -> Session:
    principal = Principal(kind="portal_user", subject_id="u", customer_id="c1", permissions=frozenset())
    return Session("h", principal, token, customer_name, csrf)


async def built(cache: read_cache.ReadCache, token: str, area: str = "tickets") -> read_cache.PageDeps:
    """What a section made from one cached read of `area` records."""

    async def run() -> read_cache.PageDeps:
        with read_cache.recording() as deps:
            await cache.get("t.list", area, (), token, Backend())
        return deps

    return await asyncio.create_task(run())


async def test_users_who_see_the_same_share_a_section_and_no_one_else_does(cache: read_cache.ReadCache) -> None:
    sections = SectionCache()
    ann, bob = session(ALL), session(ALL_OTHER_USER, csrf="csrf-2")
    shared = sections.shared_key(ann, "en")
    # Two "All" users of one customer and group: one key. A "Mine" user, another contact's "Mine", another language,
    # staff: not.
    assert shared == sections.shared_key(bob, "en")
    assert sections.shared_key(session(MINE), "en") not in (shared, sections.shared_key(session(MINE_OTHER), "en"))
    assert sections.shared_key(ann, "fr") != shared
    assert sections.shared_key(session(ALL, customer_name="Acme Ltd"), "en") != shared
    assert sections.shared_key(session(STAFF), "en") is None

    sections.put(shared, "open_tickets", f'<form><input value="{CSRF_PLACEHOLDER}"></form>', await built(cache, ALL))
    # Each user gets their own form token in it.
    assert sections.get(shared, "open_tickets", ann) == '<form><input value="csrf-1"></form>'
    assert sections.get(shared, "open_tickets", bob) == '<form><input value="csrf-2"></form>'
    assert sections.get(shared, "recent_tickets", ann) is None
    assert sections.get(sections.shared_key(session(MINE), "en"), "open_tickets", session(MINE)) is None


async def test_a_section_is_sent_again_only_while_what_it_was_made_from_is_unchanged(
    cache: read_cache.ReadCache,
) -> None:
    sections = SectionCache()
    ann = session(ALL)
    shared = sections.shared_key(ann, "en")
    sections.put(shared, "open_tickets", "<p>tickets</p>", await built(cache, ALL, "tickets"))
    sections.put(shared, "assets", "<p>assets</p>", await built(cache, ALL, "assets"))
    assert sections.get(shared, "open_tickets", ann) == "<p>tickets</p>"

    # A change of the customer's tickets ends the tickets section, not the assets one.
    cache.bump(("c2",), "tickets", reason="event")
    assert sections.get(shared, "open_tickets", ann) is None
    assert sections.get(shared, "assets", ann) == "<p>assets</p>"

    # A reconnection of the event subscription ends everything kept.
    cache.events_down()
    cache.events_up()
    assert sections.get(shared, "assets", ann) is None


async def test_what_a_stored_section_was_made_from_is_noted_on_the_page_that_uses_it(
    cache: read_cache.ReadCache,
) -> None:
    sections = SectionCache()
    ann = session(ALL)
    shared = sections.shared_key(ann, "en")
    made = await built(cache, ALL, "billing")
    lease = read_cache.Lease(1e12)
    lease.renewed(0.0, _never)
    made.hold((lease,))
    sections.put(shared, "recent_payments", "<p>payments</p>", made)

    async def page() -> read_cache.PageDeps:
        deps = read_cache.record_page()
        assert sections.get(shared, "recent_payments", ann) == "<p>payments</p>"
        return deps

    deps = await asyncio.create_task(page())
    assert not deps.spoiled and dict(deps.stamps) == made.stamps and deps.leases == (lease,)


async def test_a_spoiled_an_old_or_an_earlier_than_the_last_write_section_is_not_sent(
    cache: read_cache.ReadCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    sections = SectionCache()
    ann = session(ALL)
    shared = sections.shared_key(ann, "en")

    spoiled = await built(cache, ALL)
    spoiled.spoiled = True  # an uncached read or an error went into it
    sections.put(shared, "charts", "<svg/>", spoiled)
    assert sections.get(shared, "charts", ann) is None and len(sections) == 0

    made = await built(cache, ALL)
    sections.put(shared, "charts", "<svg/>", made)
    # This browser wrote after the section was begun (portal_rv): another replica's kept sections may not have it.
    monkeypatch.setattr(freshness, "last_write_ms", lambda: made.started_ms + 5)
    assert sections.get(shared, "charts", ann) is None
    monkeypatch.setattr(freshness, "last_write_ms", lambda: 0)
    assert sections.get(shared, "charts", ann) == "<svg/>"

    # Past the read cache's TTL, or past the lease of a list kept apart that it shows (the ticket-status labels).
    cache.ttl = 0.0
    assert sections.get(shared, "charts", ann) is None
    cache.ttl = 30.0
    lapsed = read_cache.Lease(10.0)
    lapsed.renewed(0.0, _never)
    made.hold((lapsed,))
    sections.put(shared, "charts", "<svg/>", made)
    assert sections.get(shared, "charts", ann) is None


async def test_it_is_bounded_and_off_with_the_read_cache(cache: read_cache.ReadCache) -> None:
    sections = SectionCache(max_entries=2, max_bytes=1 << 20)
    ann = session(ALL)
    shared = sections.shared_key(ann, "en")
    made = await built(cache, ALL)
    for key in ("a", "b", "c"):
        sections.put(shared, key, "<p>x</p>", made)
    assert len(sections) == 2 and sections.get(shared, "a", ann) is None
    small = SectionCache(max_entries=100, max_bytes=700)
    small.put(shared, "big", "x" * 200, made)
    assert len(small) == 0
    cache.configure(max_entries=0, max_bytes=0, ttl_seconds=30)
    assert sections.shared_key(ann, "en") is None
    assert section_cache.SECTIONS.shared_key(ann, "en") is None


async def test_one_view_builds_a_users_sections_while_the_others_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    sections = SectionCache()
    shared = ("viewer", "en", "Acme")
    assert sections.in_flight(shared) is None
    with sections.building(shared):
        waiter = asyncio.create_task(sections.in_flight(shared))
        with sections.building(shared):  # a second builder (it did not wait) leaves the first one's mark
            pass
        await asyncio.sleep(0.05)
        assert not waiter.done()
    await asyncio.wait_for(waiter, 1)
    assert sections.in_flight(shared) is None and sections.in_flight(("other",)) is None

    # A build that takes too long is waited for at most BUILD_WAIT.
    monkeypatch.setattr(section_cache, "BUILD_WAIT", 0.05)
    with sections.building(shared):
        await asyncio.wait_for(sections.in_flight(shared), 1)
