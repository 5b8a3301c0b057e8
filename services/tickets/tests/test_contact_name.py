"""The contact's name kept on the ticket (SPEC T1), so lists show who a ticket is for without asking identity:
a portal user's ticket takes its contact's name from the principal, a customer-level user's has none, staff give
it with the contact; on SQLite and PostgreSQL, and over gRPC (lists, PDF)."""

from __future__ import annotations

import io
from dataclasses import replace

import grpc
import pytest
from pypdf import PdfReader

from portal.tickets.v1 import tickets_pb2
from servicekit.db import Database
from servicekit.errors import InvalidArgument
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.tickets import service
from tickets.tickets.models import Ticket

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


async def create(db: Database, principal, **kw) -> Ticket:  # noqa: ANN001
    kw.setdefault("subject", "Printer on fire")
    kw.setdefault("description", "Smoke everywhere")
    async with db.unit_of_work() as s:
        return await service.create_ticket(s, principal=principal, **kw)


async def stored(db: Database, ticket_id: str) -> Ticket:
    async with db.unit_of_work() as s:
        return await s.get(Ticket, ticket_id)


async def test_a_portal_users_ticket_carries_its_contacts_name(db: Database, principals) -> None:  # noqa: ANN001
    user = replace(principals.portal("cust-a", "contact-a", permissions=ALL), display_name="  Alice \n Moreno ")
    # Whatever the request says: the name is the principal's (identity's), never one a portal user sends.
    t = await create(db, user, contact_name="Somebody Else", issue_type="Hardware")
    assert (t.contact_id, t.contact_name, t.issue_type) == ("contact-a", "Alice Moreno", "Hardware")
    assert (await stored(db, t.id)).contact_name == "Alice Moreno"


async def test_a_customer_level_users_ticket_has_no_contact_name(db: Database, principals) -> None:  # noqa: ANN001
    # A user that is the customer itself: identity puts the customer's name in the principal, which is no contact.
    user = replace(principals.portal("cust-a", permissions=ALL), display_name="Acme Dental Clinic")
    t = await create(db, user, contact_name="Somebody Else")
    assert (t.contact_id, t.contact_name) == ("", "")
    assert (await stored(db, t.id)).contact_name == ""


async def test_staff_give_the_contacts_name(db: Database, principals) -> None:  # noqa: ANN001
    staff = replace(principals.staff(), display_name="Tess Tech")
    t = await create(db, staff, customer_id="cust-a", contact_id="contact-a", contact_name=" Bob  Lindqvist ")
    assert (t.contact_id, t.contact_name) == ("contact-a", "Bob Lindqvist")
    assert (await stored(db, t.id)).contact_name == "Bob Lindqvist"
    # No contact: no name, and the staff member's own name is never taken for one.
    plain = await create(db, staff, customer_id="cust-a")
    assert (plain.contact_id, plain.contact_name) == ("", "")


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"contact_name": "Bob"}, "contact_name"),  # a name without its contact
        ({"contact_id": "contact-a", "contact_name": "x" * 201}, "contact_name"),
    ],
)
async def test_staff_contact_name_is_checked(db: Database, principals, kw: dict, field: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidArgument) as err:
        await create(db, principals.staff(), customer_id="cust-a", **kw)
    assert err.value.field == field


async def test_a_long_principal_name_never_costs_the_ticket(db: Database, principals) -> None:  # noqa: ANN001
    user = replace(principals.portal("cust-a", "contact-a", permissions=ALL), display_name="N" * 300)
    t = await create(db, user)
    assert t.contact_name == "N" * 200


async def test_the_name_reaches_lists_gets_and_the_pdf_over_grpc(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    alice = replace(principals.portal("cust-a", "contact-a", permissions=ALL), display_name="Alice Moreno")
    md = served.keys.metadata(alice)
    staff = served.keys.metadata(principals.staff())
    mine = (
        await s.CreateTicket(
            tickets_pb2.CreateTicketRequest(subject="Scanner", description="d", issue_type="Hardware"), metadata=md
        )
    ).ticket
    theirs = (
        await s.CreateTicket(
            tickets_pb2.CreateTicketRequest(
                subject="Router",
                description="d",
                customer_id="cust-a",
                contact_id="contact-b",
                contact_name="Bob Lindqvist",
            ),
            metadata=staff,
        )
    ).ticket
    assert (mine.contact_name, theirs.contact_name) == ("Alice Moreno", "Bob Lindqvist")
    listed = await s.ListTickets(tickets_pb2.ListTicketsRequest(open_only=True), metadata=md)
    assert {t.subject: (t.contact_name, t.issue_type) for t in listed.tickets} == {
        "Scanner": ("Alice Moreno", "Hardware"),
        "Router": ("Bob Lindqvist", "General"),
    }
    got = (await s.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=theirs.id), metadata=md)).ticket
    assert got.contact_name == "Bob Lindqvist"
    pdf = await s.RenderTicketPdf(tickets_pb2.RenderTicketPdfRequest(ticket_id=mine.id), metadata=md)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.pdf)).pages)
    assert "Contact: Alice Moreno" in text
    # Without a contact id, a name from staff is refused naming the field.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await s.CreateTicket(
            tickets_pb2.CreateTicketRequest(subject="x", description="d", customer_id="cust-a", contact_name="Bob"),
            metadata=staff,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith("contact_name")


async def test_a_view_all_user_opens_a_ticket_for_another_contact_and_a_view_mine_user_cannot(
    db: Database, principals
) -> None:  # noqa: ANN001
    """SPEC T3: the new-ticket form's contact picker, offered to users who see all the customer's tickets."""
    from servicekit.errors import PermissionDenied
    from servicekit.permissions import TICKETS_VIEW_MINE

    boss = replace(principals.portal("cust-a", "", permissions=ALL), display_name="Office")
    t = await create(db, boss, contact_id="contact-b", contact_name=" Bob  Stone ")
    assert (t.customer_id, t.contact_id, t.contact_name) == ("cust-a", "contact-b", "Bob Stone")
    # Naming one's own contact is not a choice: the name stays identity's.
    alice = replace(principals.portal("cust-a", "contact-a", permissions=ALL), display_name="Alice")
    t = await create(db, alice, contact_id="contact-a", contact_name="Not Alice")
    assert (t.contact_id, t.contact_name) == ("contact-a", "Alice")

    mine_only = principals.portal("cust-a", "contact-a", permissions={TICKETS_CREATE, TICKETS_VIEW_MINE})
    with pytest.raises(PermissionDenied, match="another contact"):
        await create(db, mine_only, contact_id="contact-b", contact_name="Bob")
    link = replace(principals.portal("cust-a", "", permissions=ALL), link_site_id="site-1")
    with pytest.raises(PermissionDenied):
        await create(db, link, contact_id="contact-b", contact_name="Bob")
