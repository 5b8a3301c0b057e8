"""Issue 12 (SPEC T3): who portal-created tickets go to is a setting an admin changes over gRPC; until then the
process's TICKETS_DEFAULT_ASSIGNEE applies; a technician reads it and is refused a change; a portal user neither.
A staff-created ticket is never assigned by default. SQLite and PostgreSQL."""

from __future__ import annotations

import grpc

from portal.tickets.v1 import tickets_pb2
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL

from .test_grpc_comments import code_of

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


def _change(assignee: str) -> tickets_pb2.UpdateTicketSettingsRequest:
    return tickets_pb2.UpdateTicketSettingsRequest(settings=tickets_pb2.TicketSettings(default_assignee_id=assignee))


async def test_an_admin_sets_the_default_assignee_of_portal_tickets(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    admin = served.keys.metadata(principals.staff())
    tech = served.keys.metadata(principals.technician())
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    assert (
        await s.GetTicketSettings(tickets_pb2.GetTicketSettingsRequest(), metadata=tech)
    ).settings.default_assignee_id == ""

    code, detail = await code_of(s.UpdateTicketSettings(_change("x"), metadata=tech))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "only an admin" in detail
    for call in (
        s.GetTicketSettings(tickets_pb2.GetTicketSettingsRequest(), metadata=alice),
        s.UpdateTicketSettings(_change("x"), metadata=alice),
    ):
        assert (await code_of(call))[0] == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await code_of(s.UpdateTicketSettings(_change("bad\nid"), metadata=admin))
    assert code == grpc.StatusCode.INVALID_ARGUMENT

    saved = await s.UpdateTicketSettings(_change("tech-7"), metadata=admin)
    assert saved.settings.default_assignee_id == "tech-7"
    made = await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Printer", description="Jams"), metadata=alice)
    assert made.ticket.assignee_id == "tech-7"
    by_staff = await s.CreateTicket(
        tickets_pb2.CreateTicketRequest(subject="Visit", description="Plan", customer_id="cust-a"), metadata=admin
    )
    assert by_staff.ticket.assignee_id == ""
    await s.UpdateTicketSettings(_change(""), metadata=admin)
    made = await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Mouse", description="Dead"), metadata=alice)
    assert made.ticket.assignee_id == ""
