"""Issue 4 rules on SQLite and PostgreSQL: comments public and private, edit and close, staff actions, search,
filters, sorts and Mine/All, with the events they record."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from portal.tickets.v1 import events_pb2
from servicekit.db import Database
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.outbox_tables import outbox
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL, TICKETS_VIEW_MINE
from tickets.comments import service as comments
from tickets.events.publish import CUSTOMER_COMMENTED, TICKET_CLOSED, TICKET_COMMENTED
from tickets.tickets import service
from tickets.tickets.models import Ticket

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}
MINE = {TICKETS_CREATE, TICKETS_VIEW_MINE}


async def create(db: Database, principal, **kw) -> Ticket:  # noqa: ANN001
    kw.setdefault("subject", "Printer on fire")
    kw.setdefault("description", "Smoke everywhere")
    async with db.unit_of_work() as s:
        return await service.create_ticket(s, principal=principal, **kw)


async def comment(db: Database, principal, ticket_id: str, body: str, **kw):  # noqa: ANN001, ANN201
    async with db.unit_of_work() as s:
        return await comments.add_comment(s, principal=principal, ticket_id=ticket_id, body=body, **kw)


async def bodies(db: Database, principal, ticket_id: str) -> list[str]:  # noqa: ANN001
    async with db.unit_of_work() as s:
        page = await comments.list_comments(s, principal=principal, ticket_id=ticket_id)
    return [c.body for c in page.comments]


async def events_of(db: Database, subject: str) -> list[bytes]:
    async with db.unit_of_work() as s:
        rows = (await s.execute(sa.select(outbox.c.payload).where(outbox.c.subject == subject))).all()
    return [r[0] for r in rows]


async def search(db: Database, principal, **kw) -> list[int]:  # noqa: ANN001
    async with db.unit_of_work() as s:
        page = await service.list_tickets(s, principal=principal, page_size=100, **kw)
    return [t.number for t in page.tickets]


async def test_public_comments_and_private_notes(db, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    staff = principals.staff()
    ticket = await create(db, user)
    marker = f"PRIVATE-{uuid.uuid4().hex}"
    await comment(db, user, ticket.id, "first from customer", author_name="Alice")
    await comment(db, staff, ticket.id, f"internal {marker}", private=True)
    await comment(db, staff, ticket.id, "reply from staff")

    assert await bodies(db, user, ticket.id) == ["reply from staff", "first from customer"]
    assert await bodies(db, staff, ticket.id) == ["reply from staff", f"internal {marker}", "first from customer"]
    # A search by the private text finds nothing for the customer, the ticket for staff.
    assert await search(db, user, query=marker) == []
    assert await search(db, staff, query=marker) == [ticket.number]

    commented = [events_pb2.TicketCommented.FromString(p) for p in await events_of(db, TICKET_COMMENTED)]
    assert [(e.is_public, e.author_kind) for e in commented] == [
        (True, "portal_user"),
        (False, "staff"),
        (True, "staff"),
    ]
    assert all(marker not in e.SerializeToString().decode("utf-8", "replace") for e in commented)
    assert commented[2].body == "reply from staff"
    customer = [events_pb2.CustomerCommented.FromString(p) for p in await events_of(db, CUSTOMER_COMMENTED)]
    assert [(e.ticket_id, e.author_name) for e in customer] == [(ticket.id, "Alice")]


async def test_portal_users_cannot_write_private_notes_or_reach_other_customers(db, principals) -> None:  # noqa: ANN001
    alice = principals.portal("cust-a", "contact-a", permissions=ALL)
    carol = principals.portal("cust-b", "contact-b", permissions=ALL)
    ticket = await create(db, alice)
    with pytest.raises(PermissionDenied):
        await comment(db, alice, ticket.id, "sneaky", private=True)
    for call in (
        comment(db, carol, ticket.id, "hello"),
        bodies(db, carol, ticket.id),
    ):
        with pytest.raises(NotFound):
            await call
    async with db.unit_of_work() as s:
        with pytest.raises(NotFound):
            await service.close_ticket(s, principal=carol, ticket_id=ticket.id)
    async with db.unit_of_work() as s:
        with pytest.raises(NotFound):
            await service.update_ticket(s, principal=carol, ticket_id=ticket.id, subject="mine now")
    async with db.unit_of_work() as s:
        with pytest.raises(PermissionDenied):
            await service.assign_ticket(s, principal=alice, ticket_id=ticket.id, assignee_id="staff-9")


async def test_edit_close_and_no_comments_after(db, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    ticket = await create(db, user)
    async with db.unit_of_work() as s:
        edited = await service.update_ticket(s, principal=user, ticket_id=ticket.id, subject="  New   subject ")
    assert (edited.subject, edited.description) == ("New subject", "Smoke everywhere")
    async with db.unit_of_work() as s:
        closed = await service.close_ticket(s, principal=user, ticket_id=ticket.id)
    assert closed.status == "Closed" and closed.closed_at is not None
    async with db.unit_of_work() as s:
        again = await service.close_ticket(s, principal=user, ticket_id=ticket.id)
    assert again.closed_at == closed.closed_at
    assert len(await events_of(db, TICKET_CLOSED)) == 1, "closing twice tells no one twice"
    event = events_pb2.TicketClosed.FromString((await events_of(db, TICKET_CLOSED))[0])
    assert (event.ticket_id, event.closed_by_kind) == (ticket.id, "portal_user")

    with pytest.raises(FailedPrecondition, match="closed"):
        await comment(db, user, ticket.id, "one more thing")
    with pytest.raises(FailedPrecondition, match="closed"):
        await comment(db, principals.staff(), ticket.id, "staff too")
    async with db.unit_of_work() as s:
        with pytest.raises(FailedPrecondition):
            await service.update_ticket(s, principal=user, ticket_id=ticket.id, description="changed")


async def test_default_assignee_site_asset_and_staff_assign(db, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    staff = principals.staff()
    portal_ticket = await create(db, user, default_assignee="tech-1", site_id="site-1", asset_id="asset-1")
    assert (portal_ticket.assignee_id, portal_ticket.site_id, portal_ticket.asset_id) == (
        "tech-1",
        "site-1",
        "asset-1",
    )
    staff_ticket = await create(db, staff, customer_id="cust-a", default_assignee="tech-1")
    assert staff_ticket.assignee_id == ""
    async with db.unit_of_work() as s:
        assigned = await service.assign_ticket(s, principal=staff, ticket_id=staff_ticket.id, assignee_id="tech-2")
    assert assigned.assignee_id == "tech-2"
    assert await search(db, user, site_id="site-1") == [portal_ticket.number]
    assert await search(db, user, asset_id="asset-1") == [portal_ticket.number]


async def test_search_filters_sorts_and_scope(db, principals) -> None:  # noqa: ANN001
    alice = principals.portal("cust-a", "contact-a", permissions=ALL)
    bob = principals.portal("cust-a", "contact-b", permissions=MINE)
    staff = principals.staff()
    t1 = await create(db, alice, subject="Printer jams", description="Tray 2")
    t2 = await create(db, bob, subject="VPN drops", description="Every hour 50%_off")
    t3 = await create(db, alice, subject="Mail", description="Outlook asks for password")
    await comment(db, staff, t3.id, "Reset the PRINTER spooler")
    async with db.unit_of_work() as s:
        await service.close_ticket(s, principal=staff, ticket_id=t2.id)

    assert await search(db, alice) == [t3.number, t2.number, t1.number]
    assert await search(db, alice, sort="oldest") == [t1.number, t2.number, t3.number]
    assert (await search(db, alice, sort="updated"))[0] == t2.number
    assert await search(db, alice, query="printer") == [t3.number, t1.number], "comments are searched"
    assert await search(db, alice, query="printer tray") == [t1.number], "every word must match"
    assert await search(db, alice, query="50%_") == [t2.number], "LIKE wildcards are literal"
    assert await search(db, alice, query="%%") == []
    assert await search(db, alice, status_in=["closed"]) == [t2.number]
    assert await search(db, alice, status_not_in=["Closed"]) == [t3.number, t1.number]
    assert await search(db, alice, mine_only=True) == [t3.number, t1.number]
    assert await search(db, bob) == [t2.number]
    with pytest.raises(InvalidArgument):
        await search(db, alice, status_in=["Bogus"])
    with pytest.raises(InvalidArgument):
        await search(db, alice, sort="random")


async def test_pagination_per_sort(db, principals) -> None:  # noqa: ANN001
    alice = principals.portal("cust-a", "contact-a", permissions=ALL)
    made = [await create(db, alice, subject=f"T{i}") for i in range(5)]
    for sort, expected in (
        ("newest", [t.number for t in reversed(made)]),
        ("oldest", [t.number for t in made]),
        ("updated", [t.number for t in reversed(made)]),
    ):
        seen, cursor = [], ""
        while True:
            async with db.unit_of_work() as s:
                page = await service.list_tickets(s, principal=alice, page_size=2, cursor=cursor, sort=sort)
            seen += [t.number for t in page.tickets]
            cursor = page.next_cursor
            if not cursor:
                break
        assert seen == expected, sort
    async with db.unit_of_work() as s:
        page = await service.list_tickets(s, principal=alice, page_size=2, sort="newest")
    async with db.unit_of_work() as s:
        with pytest.raises(InvalidArgument, match="sort"):
            await service.list_tickets(s, principal=alice, cursor=page.next_cursor, sort="oldest")
