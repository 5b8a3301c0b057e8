"""A secure link's principal (SPEC P6) sees, comments on and opens tickets only within its scope — one ticket,
one site's tickets, or the customer's — in every read and write, over gRPC as the gateway calls it."""

from __future__ import annotations

import grpc
import pytest

from portal.tickets.v1 import tickets_pb2
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from servicekit.principal import KIND_SECURE_LINK, Principal

NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED


def link(customer_id: str, *, ticket: str = "", site: str = "") -> Principal:
    perms = {TICKETS_VIEW_ALL} if ticket else {TICKETS_VIEW_ALL, TICKETS_CREATE}
    return Principal(
        kind=KIND_SECURE_LINK,
        subject_id="link-1",
        customer_id=customer_id,
        customer_ids=(customer_id,),
        permissions=frozenset(perms),
        display_name="Acme",
        link_ticket_id=ticket,
        link_site_id=site,
    )


async def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code()


@pytest.fixture
async def tickets(served, principals):  # noqa: ANN001, ANN201
    """Acme: one ticket on each of two sites and one on none; Blue: one ticket."""
    staff = served.keys.metadata(principals.staff())
    s1 = await served.assets.site("cust-a", "HQ")
    s2 = await served.assets.site("cust-a", "Depot")

    async def make(customer: str, subject: str, site: str = "") -> str:
        req = tickets_pb2.CreateTicketRequest(
            customer_id=customer, subject=subject, description="printer jam", site_id=site
        )
        return (await served.stub.CreateTicket(req, metadata=staff)).ticket.id

    return {
        "s1": s1,
        "s2": s2,
        "a1": await make("cust-a", "HQ printer", s1),
        "a2": await make("cust-a", "Depot printer", s2),
        "a3": await make("cust-a", "Office printer"),
        "b1": await make("cust-b", "Blue printer"),
    }


async def listed(served, md, **kw) -> set[str]:  # noqa: ANN001
    page = await served.stub.ListTickets(tickets_pb2.ListTicketsRequest(**kw), metadata=md)
    return {t.id for t in page.tickets}


async def test_a_ticket_link_reaches_its_ticket_only(served, tickets) -> None:  # noqa: ANN001
    md = served.keys.metadata(link("cust-a", ticket=tickets["a1"]))
    stub = served.stub
    assert await listed(served, md) == {tickets["a1"]}
    assert await listed(served, md, query="printer") == {tickets["a1"]}
    assert await listed(served, md, site_id=tickets["s2"]) == set()
    assert (await stub.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=tickets["a1"]), metadata=md)).ticket.id
    comment = await stub.AddComment(
        tickets_pb2.AddCommentRequest(ticket_id=tickets["a1"], body="Thanks, it jams again"), metadata=md
    )
    assert comment.comment.body == "Thanks, it jams again"
    pdf = await stub.RenderTicketPdf(tickets_pb2.RenderTicketPdfRequest(ticket_id=tickets["a1"]), metadata=md)
    assert pdf.pdf.startswith(b"%PDF")
    for other in ("a2", "a3", "b1"):
        tid = tickets[other]
        assert await code_of(stub.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=tid), metadata=md)) == NOT_FOUND
        assert (
            await code_of(stub.AddComment(tickets_pb2.AddCommentRequest(ticket_id=tid, body="hi"), metadata=md))
            == NOT_FOUND
        )
        assert (
            await code_of(stub.ListComments(tickets_pb2.ListCommentsRequest(ticket_id=tid), metadata=md)) == NOT_FOUND
        )
        assert (
            await code_of(stub.ListAttachments(tickets_pb2.ListAttachmentsRequest(ticket_id=tid), metadata=md))
            == NOT_FOUND
        )
        assert (
            await code_of(stub.RenderTicketPdf(tickets_pb2.RenderTicketPdfRequest(ticket_id=tid), metadata=md))
            == NOT_FOUND
        )
    # Reading and commenting only: no new ticket (it would be outside the link), no edit, no close.
    new = tickets_pb2.CreateTicketRequest(subject="New", description="Please")
    assert await code_of(stub.CreateTicket(new, metadata=md)) == DENIED
    edit = tickets_pb2.UpdateTicketRequest(ticket_id=tickets["a1"], subject="Changed")
    assert await code_of(stub.UpdateTicket(edit, metadata=md)) == DENIED
    close = tickets_pb2.CloseTicketRequest(ticket_id=tickets["a1"])
    assert await code_of(stub.CloseTicket(close, metadata=md)) == DENIED


async def test_a_site_link_reaches_its_sites_tickets_and_opens_tickets_there(served, tickets) -> None:  # noqa: ANN001
    md = served.keys.metadata(link("cust-a", site=tickets["s1"]))
    stub = served.stub
    assert await listed(served, md) == {tickets["a1"]}
    for other in ("a2", "a3", "b1"):
        req = tickets_pb2.GetTicketRequest(ticket_id=tickets[other])
        assert await code_of(stub.GetTicket(req, metadata=md)) == NOT_FOUND
    made = (
        await stub.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Door", description="Stuck"), metadata=md)
    ).ticket
    assert (made.customer_id, made.site_id, made.contact_id) == ("cust-a", tickets["s1"], "")
    assert await listed(served, md) == {tickets["a1"], made.id}
    elsewhere = tickets_pb2.CreateTicketRequest(subject="Door", description="Stuck", site_id=tickets["s2"])
    assert await code_of(stub.CreateTicket(elsewhere, metadata=md)) == DENIED
    # Even naming another customer cannot move the ticket: a portal-side caller opens for its own customer.
    other = tickets_pb2.CreateTicketRequest(subject="Door", description="Stuck", customer_id="cust-b")
    assert (await stub.CreateTicket(other, metadata=md)).ticket.customer_id == "cust-a"


async def test_a_customer_link_reaches_the_customers_tickets_and_no_other(served, tickets) -> None:  # noqa: ANN001
    md = served.keys.metadata(link("cust-a"))
    assert await listed(served, md) == {tickets["a1"], tickets["a2"], tickets["a3"]}
    req = tickets_pb2.GetTicketRequest(ticket_id=tickets["b1"])
    assert await code_of(served.stub.GetTicket(req, metadata=md)) == NOT_FOUND
