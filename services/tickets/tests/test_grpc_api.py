"""TicketsService over a real localhost gRPC socket, wired as main.py wires it, with real principal tokens."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portal.common.v1 import common_pb2
from portal.tickets.v1 import events_pb2, tickets_pb2
from servicekit.outbox_tables import outbox
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL, TICKETS_VIEW_MINE
from servicekit.principal import TokenSigner
from tickets.events.publish import TICKET_CREATED
from tickets.grpc_api import SERVICE_NAME

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


def req(
    subject: str = "Printer on fire", description: str = "Smoke everywhere", **kw
) -> tickets_pb2.CreateTicketRequest:  # noqa: ANN003
    return tickets_pb2.CreateTicketRequest(subject=subject, description=description, **kw)


async def code_of(call) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


async def test_every_rpc_needs_a_token(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    for call in (
        s.CreateTicket(req()),
        s.ListTickets(tickets_pb2.ListTicketsRequest()),
        s.GetTicket(tickets_pb2.GetTicketRequest(ticket_id="00000000-0000-4000-8000-000000000000")),
    ):
        assert (await code_of(call))[0] == grpc.StatusCode.UNAUTHENTICATED
    # A token that identity did not sign is no better.
    forged, _ = TokenSigner(Ed25519PrivateKey.generate()).sign(principals.portal("c", "k", permissions=ALL))
    bad = (("authorization", f"Bearer {forged}"),)
    assert (await code_of(s.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=bad)))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert (await code_of(s.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=(("authorization", "x"),))))[
        0
    ] == grpc.StatusCode.UNAUTHENTICATED


async def test_health_and_reflection_stay_public(served) -> None:  # noqa: ANN001
    health = health_pb2_grpc.HealthStub(served.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_create_and_get_round_trip(served, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    md = served.keys.metadata(user)
    created = (
        await served.stub.CreateTicket(
            # The customer is always the user's own, whatever the request says (the contact a View All user may
            # choose: test_contact_name.py).
            req(priority="High", issue_type="Hardware", customer_id="cust-b"),
            metadata=md,
        )
    ).ticket
    assert (created.number, created.customer_id, created.contact_id, created.created_by) == (
        1,
        "cust-a",
        "contact-a",
        "user-contact-a",
    )
    assert (created.status, created.priority, created.issue_type) == ("New", "High", "Hardware")
    assert created.created_at.seconds > 0 and created.updated_at == created.created_at
    got = (await served.stub.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=created.id), metadata=md)).ticket
    assert got == created


async def test_another_customers_ticket_is_not_found(served, principals) -> None:  # noqa: ANN001
    a = principals.portal("cust-a", "contact-a", permissions=ALL)
    b = principals.portal("cust-b", "contact-b", permissions=ALL)
    private_subject = "Subject only customer A may read"
    t = (await served.stub.CreateTicket(req(subject=private_subject), metadata=served.keys.metadata(a))).ticket
    code, details = await code_of(
        served.stub.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=t.id), metadata=served.keys.metadata(b))
    )
    assert code == grpc.StatusCode.NOT_FOUND and private_subject not in details
    listed = await served.stub.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=served.keys.metadata(b))
    assert list(listed.tickets) == []
    code, _ = await code_of(
        served.stub.GetTicket(tickets_pb2.GetTicketRequest(ticket_id="not-an-id"), metadata=served.keys.metadata(b))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_view_mine_sees_only_its_contacts_tickets(served, principals) -> None:  # noqa: ANN001
    k1 = principals.portal("cust-a", "contact-1", permissions={TICKETS_CREATE, TICKETS_VIEW_MINE})
    k2 = principals.portal("cust-a", "contact-2", permissions={TICKETS_CREATE, TICKETS_VIEW_MINE})
    own = [(await served.stub.CreateTicket(req(), metadata=served.keys.metadata(k1))).ticket for _ in range(2)]
    other = (await served.stub.CreateTicket(req(), metadata=served.keys.metadata(k2))).ticket
    staff_made = (
        await served.stub.CreateTicket(req(customer_id="cust-a"), metadata=served.keys.metadata(principals.staff()))
    ).ticket
    listed = await served.stub.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=served.keys.metadata(k1))
    assert [t.id for t in listed.tickets] == [own[1].id, own[0].id]
    for hidden in (other, staff_made):
        code, _ = await code_of(
            served.stub.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=hidden.id), metadata=served.keys.metadata(k1))
        )
        assert code == grpc.StatusCode.NOT_FOUND
    everyone = principals.portal("cust-a", "contact-1", permissions=ALL)
    listed = await served.stub.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=served.keys.metadata(everyone))
    assert len(listed.tickets) == 4


async def test_create_without_permission_is_denied(served, principals) -> None:  # noqa: ANN001
    viewer = principals.portal("cust-a", "contact-a", permissions={TICKETS_VIEW_ALL, TICKETS_VIEW_MINE})
    code, _ = await code_of(served.stub.CreateTicket(req(), metadata=served.keys.metadata(viewer)))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    nothing = principals.portal("cust-a", "contact-a", permissions=set())
    code, _ = await code_of(
        served.stub.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=served.keys.metadata(nothing))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (req(subject=""), "subject"),
        (req(subject="x" * 1_000_000), "subject"),
        (tickets_pb2.CreateTicketRequest(subject="No description"), "description"),
        (req(priority="Whenever"), "priority"),
    ],
    ids=["empty-subject", "1MB-subject", "missing-description", "bad-priority"],
)
async def test_bad_input_is_invalid_argument_naming_the_field(
    served, principals, request_: tickets_pb2.CreateTicketRequest, field: str
) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    code, details = await code_of(served.stub.CreateTicket(request_, metadata=served.keys.metadata(user)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(f"{field}: ") and len(details) < 200


async def test_staff_must_name_the_customer(served, principals) -> None:  # noqa: ANN001
    code, details = await code_of(served.stub.CreateTicket(req(), metadata=served.keys.metadata(principals.staff())))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("customer_id: ")


async def test_malformed_cursor_is_invalid_argument(served, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    for cursor in ("not-a-cursor!!", "eyJ4IjoxfQ"):
        code, details = await code_of(
            served.stub.ListTickets(
                tickets_pb2.ListTicketsRequest(page=common_pb2.PageRequest(cursor=cursor)),
                metadata=served.keys.metadata(user),
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("cursor: ")
    code, _ = await code_of(
        served.stub.ListTickets(
            tickets_pb2.ListTicketsRequest(page=common_pb2.PageRequest(page_size=-1)),
            metadata=served.keys.metadata(user),
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_pagination_walks_every_ticket_exactly_once(served, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    md = served.keys.metadata(user)
    made = [(await served.stub.CreateTicket(req(subject=f"t{i}"), metadata=md)).ticket for i in range(17)]
    await served.stub.CreateTicket(
        req(), metadata=served.keys.metadata(principals.portal("cust-b", "b", permissions=ALL))
    )
    seen: list[str] = []
    cursor = ""
    while True:
        page = await served.stub.ListTickets(
            tickets_pb2.ListTicketsRequest(page=common_pb2.PageRequest(page_size=4, cursor=cursor)), metadata=md
        )
        assert len(page.tickets) <= 4
        seen += [t.id for t in page.tickets]
        cursor = page.page.next_cursor
        if not cursor:
            break
    assert seen == [t.id for t in reversed(made)]


async def test_idempotent_create(served, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    md = served.keys.metadata(user)
    first = (await served.stub.CreateTicket(req(idempotency_key="form-1"), metadata=md)).ticket
    again = (await served.stub.CreateTicket(req(idempotency_key="form-1"), metadata=md)).ticket
    assert again == first
    burst = await asyncio.gather(
        *(served.stub.CreateTicket(req(idempotency_key="form-2"), metadata=md) for _ in range(20))
    )
    assert len({r.ticket.id for r in burst}) == 1
    listed = await served.stub.ListTickets(tickets_pb2.ListTicketsRequest(), metadata=md)
    assert len(listed.tickets) == 2
    assert sorted(t.number for t in listed.tickets) == [1, 2]
    await assert_one_event_per_ticket(served, list(listed.tickets))


async def assert_one_event_per_ticket(served, tickets: list[tickets_pb2.Ticket]) -> None:  # noqa: ANN001
    async with served.db.unit_of_work() as s:
        rows = (await s.execute(sa.select(outbox.c.id, outbox.c.subject, outbox.c.payload))).all()
    assert all(r.subject == TICKET_CREATED for r in rows)
    events = {e.ticket_id: e for e in (events_pb2.TicketCreated.FromString(r.payload) for r in rows)}
    assert len(rows) == len(events) == len(tickets)
    for t in tickets:
        e = events[t.id]
        assert (e.number, e.customer_id, e.contact_id, e.subject, e.created_by) == (
            t.number,
            t.customer_id,
            t.contact_id,
            t.subject,
            t.created_by,
        )
        assert e.meta.customer_id == t.customer_id and e.meta.event_id
        # The contact whose "Mine" view the ticket joins (the gateway's read cache moves only its answers and "All").
        assert list(e.meta.contact_ids) == ([t.contact_id] if t.contact_id else [])
