"""The tickets data layer and service functions, on SQLite and on PostgreSQL, with the real migrations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from portal.tickets.v1 import events_pb2
from servicekit import pagination
from servicekit.db import Database
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from servicekit.outbox_tables import outbox
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL, TICKETS_VIEW_MINE
from tickets.events.publish import TICKET_CREATED
from tickets.tickets import service
from tickets.tickets.models import Counter, Ticket

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}
MINE = {TICKETS_CREATE, TICKETS_VIEW_MINE}


async def create(db: Database, principal, **kw) -> Ticket:  # noqa: ANN001
    kw.setdefault("subject", "Printer on fire")
    kw.setdefault("description", "Smoke everywhere")
    async with db.unit_of_work() as s:
        return await service.create_ticket(s, principal=principal, **kw)


async def list_all(db: Database, principal, **kw) -> list[Ticket]:  # noqa: ANN001
    out: list[Ticket] = []
    cursor = ""
    while True:
        async with db.unit_of_work() as s:
            page = await service.list_tickets(s, principal=principal, cursor=cursor, **kw)
        out += page.tickets
        if not page.next_cursor:
            return out
        cursor = page.next_cursor


async def test_create_fills_defaults_and_uses_the_principals_customer(db: Database, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    # The customer is the user's own whatever the request says (a View All user's choice of contact: test_contact_name).
    t = await create(db, user, customer_id="cust-b", subject="  Printer \n on   fire ")
    assert (t.customer_id, t.contact_id, t.created_by) == ("cust-a", "contact-a", "user-contact-a")
    assert (t.status, t.priority, t.issue_type, t.number) == ("New", "Normal", "General", 1)
    assert t.subject == "Printer on fire"
    assert t.created_at == t.updated_at and t.created_at.tzinfo is not None and t.closed_at is None
    async with db.unit_of_work() as s:
        stored = await service.get_ticket(s, principal=user, ticket_id=t.id)
    assert stored.created_at == t.created_at and stored.created_at.tzinfo is not None


async def test_staff_create_for_a_named_customer(db: Database, principals) -> None:  # noqa: ANN001
    t = await create(db, principals.staff(), customer_id="cust-a", contact_id="contact-a", priority="urgent")
    assert (t.customer_id, t.contact_id, t.priority, t.created_by) == ("cust-a", "contact-a", "Urgent", "staff-1")
    with pytest.raises(InvalidArgument) as err:
        await create(db, principals.staff())
    assert err.value.field == "customer_id"


async def test_create_needs_the_create_permission(db: Database, principals) -> None:  # noqa: ANN001
    with pytest.raises(PermissionDenied):
        await create(db, principals.portal("cust-a", "contact-a", permissions={TICKETS_VIEW_ALL}))
    with pytest.raises(PermissionDenied):
        await create(db, principals.portal("", permissions=ALL))


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": " \n\t "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"subject": "x" * 1_000_000}, "subject"),
        ({"subject": "nul\x00byte"}, "subject"),
        ({"description": ""}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 20_001}, "description"),
        ({"priority": "Critical"}, "priority"),
        ({"issue_type": "x" * 101}, "issue_type"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(db: Database, principals, kw: dict, field: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidArgument) as err:
        await create(db, principals.portal("cust-a", "contact-a", permissions=ALL), **kw)
    assert err.value.field == field
    assert len(err.value.detail) < 200
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


async def test_limits_are_inclusive(db: Database, principals) -> None:  # noqa: ANN001
    t = await create(db, principals.portal("c", "k", permissions=ALL), subject="s" * 200, description="d" * 20_000)
    assert len(t.subject) == 200 and len(t.description) == 20_000


async def test_numbers_are_sequential_and_unique_under_concurrency(db: Database, principals) -> None:  # noqa: ANN001
    users = [principals.portal(f"cust-{i % 3}", f"contact-{i}", permissions=ALL) for i in range(20)]
    created = await asyncio.gather(*(create(db, u) for u in users))
    assert sorted(t.number for t in created) == list(range(1, 21))
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(Counter.last_value)) == 20


async def test_idempotency_key_returns_the_first_ticket(db: Database, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    first = await create(db, user, idempotency_key="k1")
    again = await create(db, user, idempotency_key="k1", subject="different")
    assert again.id == first.id and again.subject == first.subject
    other_user = principals.portal("cust-a", "contact-b", permissions=ALL)
    assert (await create(db, other_user, idempotency_key="k1")).id != first.id
    assert (await create(db, user, idempotency_key="k2")).id != first.id
    assert (await create(db, user)).number == 4
    assert await outbox_count(db) == 4


async def test_concurrent_duplicates_make_one_ticket(db: Database, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    results = await asyncio.gather(*(create(db, user, idempotency_key="same") for _ in range(20)))
    assert len({t.id for t in results}) == 1
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    assert await outbox_count(db) == 1
    # The duplicates did not use up numbers.
    assert (await create(db, user)).number == 2


async def test_ticket_and_event_commit_together(db: Database, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as s:
            await service.create_ticket(s, principal=user, subject="s", description="d")
            raise RuntimeError("the RPC failed after creating")
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
    assert await outbox_count(db) == 0
    assert (await create(db, user)).number == 1


async def test_one_ticket_created_event_per_ticket(db: Database, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    tickets = [await create(db, user, subject=f"t{i}") for i in range(3)]
    async with db.unit_of_work() as s:
        rows = (await s.execute(sa.select(outbox).order_by(outbox.c.created_at))).all()
    assert [r.subject for r in rows] == [TICKET_CREATED] * 3 == ["portal.tickets.ticket_created.v1"] * 3
    for row, t in zip(rows, tickets, strict=True):
        ev = events_pb2.TicketCreated.FromString(row.payload)
        assert (ev.ticket_id, ev.number, ev.customer_id, ev.contact_id, ev.subject, ev.created_by) == (
            t.id,
            t.number,
            "cust-a",
            "contact-a",
            t.subject,
            "user-contact-a",
        )
        assert ev.meta.event_id == row.id == row.headers["Nats-Msg-Id"]
        assert ev.meta.customer_id == "cust-a"
        assert abs(ev.meta.occurred_at.ToDatetime(tzinfo=UTC) - t.created_at).total_seconds() < 5
        assert row.sent_at is None


async def test_list_is_scoped_by_the_principal(db: Database, principals) -> None:  # noqa: ANN001
    a1 = principals.portal("cust-a", "contact-a1", permissions=ALL)
    a2 = principals.portal("cust-a", "contact-a2", permissions=ALL)
    b1 = principals.portal("cust-b", "contact-b1", permissions=ALL)
    sub = principals.portal("cust-sub", "contact-s", permissions=ALL)
    mine = {
        "a1": [await create(db, a1) for _ in range(3)],
        "a2": [await create(db, a2) for _ in range(2)],
        "b1": [await create(db, b1) for _ in range(2)],
        "sub": [await create(db, sub)],
    }

    def ids(*keys: str) -> set[str]:
        return {t.id for k in keys for t in mine[k]}

    assert {t.id for t in await list_all(db, a1)} == ids("a1", "a2")
    assert {t.id for t in await list_all(db, b1)} == ids("b1")
    only_mine = principals.portal("cust-a", "contact-a1", permissions={TICKETS_VIEW_MINE})
    assert {t.id for t in await list_all(db, only_mine)} == ids("a1")
    parent = principals.portal("cust-a", "contact-a1", permissions=ALL, customer_ids=("cust-a", "cust-sub"))
    assert {t.id for t in await list_all(db, parent)} == ids("a1", "a2", "sub")
    assert {t.id for t in await list_all(db, principals.staff())} == ids("a1", "a2", "b1", "sub")
    with pytest.raises(PermissionDenied):
        await list_all(db, principals.portal("cust-a", "contact-a1", permissions={TICKETS_CREATE}))


async def test_mine_without_a_contact_is_what_the_user_opened(db: Database, principals) -> None:  # noqa: ANN001
    owner = principals.portal("cust-a", permissions=MINE, subject_id="owner")
    other = principals.portal("cust-a", permissions=MINE, subject_id="other-login")
    staff_made = await create(db, principals.staff(), customer_id="cust-a")
    own = await create(db, owner)
    assert [t.id for t in await list_all(db, owner)] == [own.id]
    assert await list_all(db, other) == []
    async with db.unit_of_work() as s:
        with pytest.raises(NotFound):
            await service.get_ticket(s, principal=owner, ticket_id=staff_made.id)


async def test_list_is_newest_first_and_pages_cover_everything_once(db: Database, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    made = [await create(db, user) for _ in range(23)]
    # Same created_at for several rows: the id breaks the tie.
    async with db.unit_of_work() as s:
        same = datetime(2030, 1, 1, tzinfo=UTC)
        await s.execute(sa.update(Ticket).where(Ticket.number.in_([5, 6, 7, 8])).values(created_at=same))
    seen: list[Ticket] = []
    cursor = ""
    pages = 0
    while True:
        async with db.unit_of_work() as s:
            page = await service.list_tickets(s, principal=user, page_size=5, cursor=cursor)
        assert len(page.tickets) <= 5
        seen += page.tickets
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages == 5
    assert sorted(t.id for t in seen) == sorted(t.id for t in made)
    keys = [(t.created_at, t.id) for t in seen]
    assert keys == sorted(keys, reverse=True)
    assert [t.number for t in seen[:4]] == sorted([5, 6, 7, 8], key=lambda n: made[n - 1].id, reverse=True)


async def test_open_only_leaves_out_closed_tickets(db: Database, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    made = [await create(db, user) for _ in range(4)]
    async with db.unit_of_work() as s:
        for t, status in ((made[0], "Resolved"), (made[1], "Closed")):
            await s.execute(
                sa.update(Ticket).where(Ticket.id == t.id).values(status=status, closed_at=datetime.now(UTC))
            )
    assert {t.id for t in await list_all(db, user, open_only=True)} == {made[2].id, made[3].id}
    assert len(await list_all(db, user)) == 4


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!!",
        "%%%",
        pagination.encode_cursor("2024-01-01T00:00:00+00:00"),
        pagination.encode_cursor(1, 2),
        pagination.encode_cursor("yesterday", "id"),
        pagination.encode_cursor("2024-01-01T00:00:00+00:00", "x" * 100),
        pagination.encode_cursor(None, None),
    ],
)
async def test_malformed_cursor_is_invalid_argument(db: Database, principals, cursor: str) -> None:  # noqa: ANN001
    async with db.unit_of_work() as s:
        with pytest.raises(InvalidArgument) as err:
            await service.list_tickets(s, principal=principals.portal("c", "k", permissions=ALL), cursor=cursor)
    assert err.value.field == "cursor"


async def test_get_hides_tickets_outside_the_principals_view(db: Database, principals) -> None:  # noqa: ANN001
    a1 = principals.portal("cust-a", "contact-a1", permissions=ALL)
    t = await create(db, a1)
    async with db.unit_of_work() as s:
        assert (await service.get_ticket(s, principal=a1, ticket_id=t.id)).id == t.id
        assert (await service.get_ticket(s, principal=a1, ticket_id=t.id.upper())).id == t.id
        assert (await service.get_ticket(s, principal=principals.staff(), ticket_id=t.id)).id == t.id
        for outsider in (
            principals.portal("cust-b", "contact-b", permissions=ALL),
            principals.portal("cust-a", "contact-a2", permissions={TICKETS_VIEW_MINE}),
            principals.portal("cust-a", "contact-a1", permissions={TICKETS_CREATE}),
        ):
            with pytest.raises(NotFound):
                await service.get_ticket(s, principal=outsider, ticket_id=t.id)
        with pytest.raises(NotFound):
            await service.get_ticket(s, principal=a1, ticket_id="00000000-0000-4000-8000-000000000000")
        for bad in ("", "nope", "x" * 1000, t.id + "0"):
            with pytest.raises(InvalidArgument) as err:
                await service.get_ticket(s, principal=a1, ticket_id=bad)
            assert err.value.field == "ticket_id"


async def outbox_count(db: Database) -> int:
    async with db.unit_of_work() as s:
        return await s.scalar(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.subject == TICKET_CREATED))
