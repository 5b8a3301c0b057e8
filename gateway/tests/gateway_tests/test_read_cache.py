"""The read cache's rules in-process (clients/read_cache.py, clients/change_feed.py); tests/e2e/test_read_cache.py
checks them end to end with two gateway replicas."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from gateway.clients import _call, change_feed, read_cache, session_events
from gateway.clients.read_cache import ReadCache, viewer_of
from gateway.edge import freshness
from portal.billing.v1 import events_pb2 as billing_events
from portal.common.v1 import common_pb2
from portal.identity.v1 import events_pb2 as identity_events
from portal.tickets.v1 import events_pb2 as ticket_events
from portal.tickets.v1 import tickets_pb2
from servicekit.events import subject


def token(**claims: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJFZERTQSJ9.{body}.c2ln"


ALL = token(knd="portal_user", sub="u1", cus="c1", ctc="k1", prm=["tickets.view_all"], cids=["c1", "c2"])
ALL_OTHER_USER = token(knd="portal_user", sub="u2", cus="c1", ctc="k2", prm=["tickets.view_all"], cids=["c1", "c2"])
MINE = token(knd="portal_user", sub="u3", cus="c1", ctc="k3", prm=["tickets.view_mine"], cids=["c1"])
MINE_OTHER = token(knd="portal_user", sub="u4", cus="c1", ctc="k4", prm=["tickets.view_mine"], cids=["c1"])
FEWER = token(knd="portal_user", sub="u1", cus="c1", ctc="k1", prm=[], cids=["c1", "c2"])
STAFF = token(knd="staff", sub="s1", prm=[])


class Backend:
    def __init__(self) -> None:
        self.calls = 0
        self.value = "v0"
        self.fail: Exception | None = None

    async def __call__(self) -> tuple[str, int]:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        return self.value, 1000


def make_cache(**kw: object) -> ReadCache:
    cache = ReadCache(**kw)  # type: ignore[arg-type]
    cache.events_up()
    return cache


def test_visibility_key() -> None:
    # Users of one customer with the same group share answers; "Mine" keys by contact; permissions are in the key.
    assert viewer_of(ALL).key == viewer_of(ALL_OTHER_USER).key
    assert viewer_of(MINE).key != viewer_of(MINE_OTHER).key
    assert viewer_of(ALL).key != viewer_of(FEWER).key
    assert viewer_of(ALL).customers == ("c1", "c2")
    assert viewer_of(STAFF).key is None and viewer_of(STAFF).staff
    assert viewer_of("not a token").key is None


async def test_a_users_own_records_are_never_shared_with_another_user_of_the_group() -> None:
    # A View All user's "mine only" list depends on who asks (the tickets service filters by its contact).
    cache, backend = make_cache(), Backend()
    mine_only = ((), (("mine_only", True),))
    await cache.get("t.list", "tickets", mine_only, ALL, backend)
    await cache.get("t.list", "tickets", mine_only, ALL_OTHER_USER, backend)
    assert backend.calls == 2
    await cache.get("t.list", "tickets", ((), (("mine_only", False),)), ALL, backend)
    await cache.get("t.list", "tickets", ((), (("mine_only", False),)), ALL_OTHER_USER, backend)
    assert backend.calls == 3
    # A payer who may not see all payments sees its own (billing): its answers are keyed by its contact.
    payer = token(knd="portal_user", sub="u5", cus="c1", ctc="k5", prm=["invoices.pay_online"], cids=["c1"])
    other = token(knd="portal_user", sub="u6", cus="c1", ctc="k6", prm=["invoices.pay_online"], cids=["c1"])
    assert viewer_of(payer).key != viewer_of(other).key
    sees_all = ["invoices.pay_online", "payments.view_all"]
    assert (
        viewer_of(token(knd="portal_user", sub="u5", cus="c1", ctc="k5", prm=sees_all, cids=["c1"])).key
        == viewer_of(token(knd="portal_user", sub="u6", cus="c1", ctc="k6", prm=sees_all, cids=["c1"])).key
    )


async def test_hits_until_the_customer_area_moves() -> None:
    cache, backend = make_cache(), Backend()
    assert await cache.get("t.list", "tickets", (), ALL, backend) == "v0"
    backend.value = "v1"
    assert await cache.get("t.list", "tickets", (), ALL_OTHER_USER, backend) == "v0"
    assert backend.calls == 1
    cache.bump(("c1",), "billing", reason="event")  # another area: still a hit
    assert await cache.get("t.list", "tickets", (), ALL, backend) == "v0"
    cache.bump(("c2",), "tickets", reason="event")  # a subsidiary the user's "All" covers
    assert await cache.get("t.list", "tickets", (), ALL, backend) == "v1"
    backend.value = "v2"
    cache.bump((), "tickets", reason="event_global")  # a change without a customer: everyone's
    assert await cache.get("t.list", "tickets", (), ALL, backend) == "v2"
    assert backend.calls == 3


async def test_never_cached_staff_errors_events_down() -> None:
    cache, backend = make_cache(), Backend()
    await cache.get("t.list", "tickets", (), STAFF, backend)
    await cache.get("t.list", "tickets", (), STAFF, backend)
    assert backend.calls == 2
    backend.fail = RuntimeError("boom")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await cache.get("t.list", "tickets", (), ALL, backend)
    assert backend.calls == 4 and len(cache) == 0
    backend.fail = None
    await cache.get("t.list", "tickets", (), ALL, backend)
    cache.events_down()
    backend.value = "fresh"
    assert await cache.get("t.list", "tickets", (), ALL, backend) == "fresh"
    cache.events_up()  # a new epoch: what was filled before the gap is not served
    backend.value = "after"
    assert await cache.get("t.list", "tickets", (), ALL, backend) == "after"


async def test_a_change_during_the_call_is_not_stored() -> None:
    cache, backend = make_cache(), Backend()

    async def slow() -> tuple[str, int]:
        value = await backend()
        cache.bump(("c1",), "tickets", reason="event")
        return value

    await cache.get("t.list", "tickets", (), ALL, slow)
    await cache.get("t.list", "tickets", (), ALL, backend)
    assert backend.calls == 2


async def test_ttl_and_bounds() -> None:
    now = [0.0]
    cache, backend = make_cache(ttl_seconds=30, max_entries=10, max_bytes=5000, clock=lambda: now[0]), Backend()
    await cache.get("t.list", "tickets", (), ALL, backend)
    now[0] = 31.0
    await cache.get("t.list", "tickets", (), ALL, backend)
    assert backend.calls == 2
    for i in range(50):
        await cache.get("t.list", "tickets", (i,), ALL, backend)
    # 1000 bytes each, at most 5000: five entries, the newest.
    assert len(cache) == 5 and cache.bytes == 5000
    calls = backend.calls
    await cache.get("t.list", "tickets", (49,), ALL, backend)
    await cache.get("t.list", "tickets", (0,), ALL, backend)
    assert backend.calls == calls + 1
    small = make_cache(max_entries=3)
    for i in range(10):
        await small.get("t.list", "tickets", (i,), ALL, backend)
    assert len(small) == 3


async def test_a_recent_write_bypasses_older_entries() -> None:
    wall = [1_000_000]
    cache, backend = make_cache(wall_ms=lambda: wall[0]), Backend()
    await cache.get("t.list", "tickets", (), ALL, backend)
    request = freshness._Request(last_write_ms=wall[0] + 5)  # the browser wrote after that fill (another replica)
    ctx = freshness._current.set(request)
    try:
        wall[0] += 10
        await cache.get("t.list", "tickets", (), ALL, backend)
        assert backend.calls == 2
        # That refill began within the clock margin after the write: not trusted either.
        wall[0] += 2 * read_cache.SKEW_MARGIN_MS
        await cache.get("t.list", "tickets", (), ALL, backend)
        assert backend.calls == 3
        # This one began past the margin: served from now on.
        await cache.get("t.list", "tickets", (), ALL, backend)
        await cache.get("t.list", "tickets", (), ALL, backend)
        assert backend.calls == 3
    finally:
        freshness._current.reset(ctx)


async def test_concurrent_misses_share_one_call() -> None:
    cache, backend = make_cache(), Backend()
    results = await asyncio.gather(*(cache.get("t.list", "tickets", (), ALL, backend) for _ in range(10)))
    assert results == ["v0"] * 10 and backend.calls == 1


async def test_local_write_bumps_and_announces() -> None:
    cache, backend = make_cache(), Backend()
    said: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = []
    cache.announce = lambda customers, area, contacts: said.append((customers, area, contacts))
    await cache.get("t.list", "tickets", (), ALL, backend)
    cache.wrote(MINE, "tickets")
    cache.wrote(STAFF, "billing")
    cache.wrote(ALL, "tickets")
    # A "Mine" user's ticket write concerns its own contact; staff's and an "All" user's any contact...
    assert said == [(("c1",), "tickets", ("k3",)), ((), "billing", ()), (("c1", "c2"), "tickets", ())]
    # ...unless the answer carries the ticket: then its contact, whoever wrote it (none: any contact).
    said.clear()
    cache.wrote(ALL, "tickets", tickets_pb2.CreateTicketResponse(ticket=tickets_pb2.Ticket(contact_id="k9")))
    cache.wrote(ALL, "tickets", tickets_pb2.CreateTicketResponse(ticket=tickets_pb2.Ticket(contact_id="")))
    cache.wrote(MINE, "billing", tickets_pb2.CreateTicketResponse(ticket=tickets_pb2.Ticket(contact_id="k9")))
    assert said == [(("c1", "c2"), "tickets", ("k9",)), (("c1", "c2"), "tickets", ()), (("c1",), "billing", ())]
    await cache.get("t.list", "tickets", (), ALL, backend)
    assert backend.calls == 2


async def test_a_mine_users_answers_move_only_with_changes_to_its_contact_or_to_no_contact() -> None:
    cache, backend = make_cache(), Backend()

    async def read(who: str) -> str:
        return await cache.get("t.list", "tickets", (), who, backend)

    assert viewer_of(MINE).contact_in("tickets") == "k3" and viewer_of(MINE).contact_in("billing") == ""
    assert viewer_of(ALL).contact_in("tickets") == ""  # "All": every contact's tickets
    assert await read(MINE) == "v0" and await read(ALL) == "v0"
    backend.value = "v1"
    cache.bump(("c1",), "tickets", reason="event", contacts=("k4",))  # another contact's ticket
    assert await read(MINE) == "v0"  # still the cached answer
    assert await read(ALL) == "v1"  # "All" sees every contact's
    backend.value = "v2"
    cache.bump(("c1",), "tickets", reason="event", contacts=("k3",))  # its own contact's ticket
    assert await read(MINE) == "v2"
    backend.value = "v3"
    cache.bump(("c1",), "tickets", reason="event")  # naming no contact: anyone's
    assert await read(MINE) == "v3"
    backend.value = "v4"
    cache.bump(("c1",), "billing", reason="event", contacts=("k4",))  # not a contact-scoped area for anyone
    assert await cache.get("b.list", "billing", (), MINE, backend) == "v4"
    backend.value = "v5"
    cache.bump(("c1",), "billing", reason="event", contacts=("k4",))
    assert await cache.get("b.list", "billing", (), MINE, backend) == "v5"


def test_event_contacts_are_read_from_the_meta() -> None:
    meta = common_pb2.EventMeta(event_id="e1", customer_id="cus-42", contact_ids=["k1", "k2"])
    created = ticket_events.TicketCreated(meta=meta, ticket_id="t").SerializeToString()
    assert change_feed.event_scope(created) == ("cus-42", ("k1", "k2"))
    # Contacts without a customer mean nothing: the change is everyone's.
    bare = ticket_events.TicketCreated(meta=common_pb2.EventMeta(contact_ids=["k1"])).SerializeToString()
    assert change_feed.event_scope(bare) == ("", ())


def test_writes_are_told_from_reads() -> None:
    class M:
        def __init__(self, name: str) -> None:
            self._method = f"/portal.x.v1.S/{name}".encode()

    assert not _call.is_write(M("ListTickets")) and not _call.is_write(M("GetPortalSummary"))
    assert _call.is_write(M("CreateTicket")) and _call.is_write(M("CheckPayment")) and _call.is_write(M("MakePayment"))
    assert _call.is_write(object())  # unknown: a write, to be safe


def test_event_customer_from_any_event() -> None:
    meta = common_pb2.EventMeta(event_id="e1", customer_id="cus-42")
    assert change_feed.event_customer(ticket_events.TicketCreated(meta=meta, ticket_id="t").SerializeToString()) == (
        "cus-42"
    )
    paid = billing_events.InvoicePaid(meta=meta).SerializeToString()
    assert change_feed.event_customer(paid) == "cus-42"
    assert change_feed.event_customer(ticket_events.TicketCreated(ticket_id="t").SerializeToString()) == ""
    with pytest.raises(ValueError):
        change_feed.event_customer(b"\x0a\xff")


class _Msg:
    """What the feed reads of a NATS message."""

    def __init__(self, subj: str, data: bytes) -> None:
        self.subject, self.data = subj, data


async def test_the_feed_moves_identity_only_on_events_that_change_an_answer() -> None:
    cache, backend = make_cache(), Backend()
    feed = change_feed.ChangeFeed(cache, "nats://unused")
    meta = common_pb2.EventMeta(event_id="e1", customer_id="c1")

    async def read() -> None:
        await cache.get("identity.list_contacts", "identity", ("c1",), ALL, backend)

    try:
        await read()
        # identity's heartbeat (every second, no customer) and a sent email (one per email) change no answer.
        beat = identity_events.SessionsHeartbeat(outbox_backlog_seconds=0.2).SerializeToString()
        await feed._on_event(_Msg(session_events.HEARTBEAT, beat))
        sent = identity_events.EmailSent(meta=meta, template="ticket_created", recipient="a@b.test")
        await feed._on_event(_Msg(subject("identity", "email_sent"), sent.SerializeToString()))
        await read()
        assert backend.calls == 1
        # A contact or the customer changed: the next read asks identity.
        changed = identity_events.ContactsChanged(meta=meta, customer_id="c1", contact_id="k9")
        await feed._on_event(_Msg(subject("identity", "contacts_changed"), changed.SerializeToString()))
        await read()
        assert backend.calls == 2
        updated = identity_events.CustomerUpdated(meta=meta, customer_id="c1", display_name="Renamed")
        await feed._on_event(_Msg(subject("identity", "customer_updated"), updated.SerializeToString()))
        await read()
        assert backend.calls == 3
        # sessions_changed still moves the area (for every customer: it carries none in its meta).
        signed_out = identity_events.SessionsChanged(meta=common_pb2.EventMeta(event_id="e2"), session_ids=["s1"])
        await feed._on_event(_Msg(subject("identity", "sessions_changed"), signed_out.SerializeToString()))
        await read()
        assert backend.calls == 4
    finally:
        await feed.close()
