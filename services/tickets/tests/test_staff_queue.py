"""Issue 12, working tickets: staff set any status (closing tells the customer once, another status re-opens), and
the staff queue's filters — assignee, unassigned, customer, priority — which never widen a portal user's list.
SQLite and PostgreSQL, with the real migrations."""

from __future__ import annotations

import pytest

from portal.tickets.v1 import events_pb2
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from tickets.events.publish import TICKET_CLOSED
from tickets.tickets import service

from .test_comments import ALL, create, events_of, search


async def set_status(db, principal, ticket_id: str, status: str):  # noqa: ANN001, ANN201
    async with db.unit_of_work() as s:
        return await service.set_status(s, principal=principal, ticket_id=ticket_id, status=status)


async def test_staff_move_a_ticket_through_the_statuses(db, principals) -> None:  # noqa: ANN001
    staff = principals.staff()
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    ticket = await create(db, user)
    assert ticket.status == "New"
    for status in ("in progress", "Waiting on Customer", "Scheduled"):
        moved = await set_status(db, staff, ticket.id, status)
        assert moved.closed_at is None
    assert moved.status == "Scheduled"
    assert await search(db, user, open_only=True) == [ticket.number]

    resolved = await set_status(db, staff, ticket.id, "Resolved")
    assert resolved.closed_at is not None
    closed = await set_status(db, staff, ticket.id, "Closed")
    assert closed.closed_at == resolved.closed_at
    assert await search(db, user, open_only=True) == []
    [payload] = await events_of(db, TICKET_CLOSED)  # Resolved then Closed: the customer is told once
    assert events_pb2.TicketClosed.FromString(payload).closed_by_kind == "staff"

    reopened = await set_status(db, staff, ticket.id, "In Progress")
    assert (reopened.status, reopened.closed_at) == ("In Progress", None)
    assert await search(db, user, open_only=True) == [ticket.number]
    again = await set_status(db, staff, ticket.id, "Closed")
    assert again.closed_at is not None and len(await events_of(db, TICKET_CLOSED)) == 2  # a new closing


async def test_only_staff_set_a_status_and_only_a_known_one(db, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    other = principals.portal("cust-b", "contact-b", permissions=ALL)
    ticket = await create(db, user)
    with pytest.raises(PermissionDenied):
        await set_status(db, user, ticket.id, "Resolved")
    with pytest.raises(PermissionDenied):
        await set_status(db, other, ticket.id, "Resolved")
    with pytest.raises(InvalidArgument, match="unknown status"):
        await set_status(db, principals.staff(), ticket.id, "Done-ish")
    with pytest.raises(NotFound):
        await set_status(db, principals.staff(), "00000000-0000-0000-0000-000000000000", "Closed")


async def test_the_queue_filters_by_assignee_customer_and_priority(db, principals) -> None:  # noqa: ANN001
    staff = principals.staff("tech-1")
    a = principals.portal("cust-a", "contact-a", permissions=ALL)
    b = principals.portal("cust-b", "contact-b", permissions=ALL)
    t1 = await create(db, a, priority="High")
    t2 = await create(db, a, priority="Low")
    t3 = await create(db, b, priority="High")
    async with db.unit_of_work() as s:
        await service.assign_ticket(s, principal=staff, ticket_id=t1.id, assignee_id="tech-1")
        await service.assign_ticket(s, principal=staff, ticket_id=t3.id, assignee_id="tech-2")

    assert await search(db, staff, assignee_id="tech-1") == [t1.number]
    assert await search(db, staff, unassigned_only=True) == [t2.number]
    assert await search(db, staff, customer_id="cust-b") == [t3.number]
    assert await search(db, staff, priority="high") == [t3.number, t1.number]
    assert await search(db, staff, priority="High", customer_id="cust-a") == [t1.number]
    with pytest.raises(InvalidArgument):
        await search(db, staff, priority="Whenever")
    with pytest.raises(InvalidArgument):
        await search(db, staff, assignee_id="tech-1", unassigned_only=True)
    # A portal user's filters only narrow its own customer's tickets.
    assert await search(db, a, customer_id="cust-b") == []
    assert await search(db, a, priority="High") == [t1.number]
