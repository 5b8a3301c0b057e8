"""Issue 12: the ticket status list is configurable — admins add, relabel (English and French) and reorder
statuses; New and Closed stay; a status tickets still have cannot be removed or switch between open and closed;
filters and SetTicketStatus follow the list in force; technicians and portal users read it but cannot change it.
SQLite and PostgreSQL."""

from __future__ import annotations

import grpc

from portal.tickets.v1 import tickets_pb2
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.tickets import settings as ticket_settings
from tickets.tickets import statuses

from .test_grpc_comments import code_of

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}
St = tickets_pb2.TicketStatus


def _update(*statuses: tickets_pb2.TicketStatus) -> tickets_pb2.UpdateTicketStatusesRequest:
    return tickets_pb2.UpdateTicketStatusesRequest(statuses=list(statuses))


async def _names(stub, md) -> list[str]:  # noqa: ANN001
    listed = await stub.ListTicketStatuses(tickets_pb2.ListTicketStatusesRequest(), metadata=md)
    return [st.name for st in listed.statuses]


async def test_admins_configure_the_status_list_and_the_service_follows_it(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    admin = served.keys.metadata(principals.staff())
    tech = served.keys.metadata(principals.technician())
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    built_in = ["New", "In Progress", "Waiting on Customer", "Scheduled", "Resolved", "Closed"]
    assert await _names(s, alice) == built_in and await _names(s, tech) == built_in

    parts = St(name="Waiting on parts", label_en="Waiting on parts", label_fr="En attente de pièces")
    wanted = _update(
        St(name="new"), St(name="In Progress", label_fr="En cours de traitement"), parts,
        St(name="Resolved", closed=True), St(name="Closed", closed=True),
    )  # fmt: skip
    for md in (tech, alice):
        code, detail = await code_of(s.UpdateTicketStatuses(wanted, metadata=md))
        assert code == grpc.StatusCode.PERMISSION_DENIED, detail

    refusals = {
        "needs a label in English and in French": _update(
            St(name="New"), St(name="Odd"), St(name="Closed", closed=True)
        ),
        "must keep “New”": _update(St(name="Closed", closed=True)),
        "must keep “Closed”": _update(St(name="New"), St(name="Closed")),
        "listed twice": _update(St(name="New"), St(name="new"), St(name="Closed", closed=True)),
        "control characters": _update(St(name="New", label_en="a\x07"), St(name="Closed", closed=True)),
    }
    for words, request in refusals.items():
        code, detail = await code_of(s.UpdateTicketStatuses(request, metadata=admin))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and words in detail, (words, detail)

    # A ticket Waiting on Customer holds that status in place: it cannot be removed until the ticket moves.
    made = await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Printer", description="Jams"), metadata=alice)
    tid = made.ticket.id
    await s.SetTicketStatus(
        tickets_pb2.SetTicketStatusRequest(ticket_id=tid, status="waiting on customer"), metadata=tech
    )
    code, detail = await code_of(s.UpdateTicketStatuses(wanted, metadata=admin))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "1 ticket is in “Waiting on Customer”" in detail
    assert await _names(s, admin) == built_in

    await s.SetTicketStatus(tickets_pb2.SetTicketStatusRequest(ticket_id=tid, status="In Progress"), metadata=tech)
    saved = await s.UpdateTicketStatuses(wanted, metadata=admin)
    assert [st.name for st in saved.statuses] == ["New", "In Progress", "Waiting on parts", "Resolved", "Closed"]
    listed = (await s.ListTicketStatuses(tickets_pb2.ListTicketStatusesRequest(), metadata=alice)).statuses
    assert (listed[1].label_en, listed[1].label_fr) == ("", "En cours de traitement")
    assert (listed[2].label_fr, listed[2].closed) == ("En attente de pièces", False)

    # The new status works for staff and in filters; a removed one is refused by name.
    moved = await s.SetTicketStatus(
        tickets_pb2.SetTicketStatusRequest(ticket_id=tid, status="WAITING ON PARTS"), metadata=tech
    )
    assert moved.ticket.status == "Waiting on parts" and not moved.ticket.HasField("closed_at")
    code, detail = await code_of(
        s.SetTicketStatus(tickets_pb2.SetTicketStatusRequest(ticket_id=tid, status="Scheduled"), metadata=tech)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "Waiting on parts" in detail
    page = await s.ListTickets(tickets_pb2.ListTicketsRequest(status_in=["waiting on parts"]), metadata=alice)
    assert [t.id for t in page.tickets] == [tid]

    # In use, it cannot turn into a closed status either; once the ticket is resolved it can be removed.
    turned = _update(St(name="New"), St(name="Waiting on parts", label_en="W", label_fr="W", closed=True),
                     St(name="Resolved", closed=True), St(name="Closed", closed=True))  # fmt: skip
    code, detail = await code_of(s.UpdateTicketStatuses(turned, metadata=admin))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "switched between open and closed" in detail
    resolved = await s.SetTicketStatus(
        tickets_pb2.SetTicketStatusRequest(ticket_id=tid, status="Resolved"), metadata=tech
    )
    assert resolved.ticket.HasField("closed_at")
    await s.UpdateTicketStatuses(
        _update(St(name="New"), St(name="Resolved", closed=True), St(name="Closed", closed=True)), metadata=admin
    )
    assert await _names(s, alice) == ["New", "Resolved", "Closed"]


async def test_saving_statuses_first_keeps_the_process_default_assignee(db, principals) -> None:  # noqa: ANN001
    """The settings row a status change creates must not silently replace TICKETS_DEFAULT_ASSIGNEE with ''."""
    proposed = [statuses.Status("New"), statuses.Status("Closed", closed=True)]
    async with db.unit_of_work() as s:
        await statuses.replace(s, principal=principals.staff(), proposed=proposed, fallback_assignee="tech-9")
    async with db.unit_of_work() as s:
        assert await ticket_settings.default_assignee(s, fallback="") == "tech-9"
        assert [st.name for st in await statuses.current(s)] == ["New", "Closed"]
