"""The ticket routes in the authorisation matrix (see harness.py); the tickets feature appends here."""

from __future__ import annotations

import secrets

import grpc

from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from servicekit import permissions as perm
from tests.authz.harness import SIGNED_IN, Route

VIEW = (perm.TICKETS_VIEW_ALL, perm.TICKETS_VIEW_MINE)
NEW_TICKET = {"subject": "Authorisation probe", "description": "Made by tests/authz."}


def _stub(addr, token: str):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(addr("tickets"), options=[("grpc.enable_http_proxy", 0)])
    return channel, tickets_pb2_grpc.TicketsServiceStub(channel), (("authorization", f"Bearer {token}"),)


def make_ticket(world, customer) -> str:  # noqa: ANN001
    with world.http(world.owner(customer), page=False) as c:
        r = c.post("/api/v1/tickets", json=NEW_TICKET, headers={"Idempotency-Key": secrets.token_urlsafe(16)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def grpc_get_ticket(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetTicket(tickets_pb2.GetTicketRequest(ticket_id=ticket_id), timeout=10, metadata=md)


def grpc_list_tickets(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListTickets(tickets_pb2.ListTicketsRequest(), timeout=10, metadata=md)


def grpc_create_ticket(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.CreateTicket(
            tickets_pb2.CreateTicketRequest(idempotency_key=secrets.token_urlsafe(16), **NEW_TICKET),
            timeout=10,
            metadata=md,
        )


def make_attachment(world, customer) -> str:  # noqa: ANN001
    ticket_id = make_ticket(world, customer)
    with world.http(world.owner(customer), page=False) as c:
        r = c.post(f"/api/v1/tickets/{ticket_id}/attachments", files={"file": ("probe.txt", b"probe", "text/plain")})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_image_attachment(world, customer) -> str:  # noqa: ANN001
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 90, 200)).save(buf, format="PNG")
    ticket_id = make_ticket(world, customer)
    with world.http(world.owner(customer), page=False) as c:
        image = {"file": ("probe.png", buf.getvalue(), "image/png")}
        r = c.post(f"/api/v1/tickets/{ticket_id}/attachments", files=image)
    assert r.status_code == 201 and r.json()["has_thumbnail"], r.text
    return r.json()["id"]


def grpc_get_thumbnail(addr, token: str, attachment_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        # A server stream: its refusal comes while it is read.
        list(
            stub.GetAttachment(
                tickets_pb2.GetAttachmentRequest(attachment_id=attachment_id, thumbnail=True), timeout=10, metadata=md
            )
        )


def grpc_add_attachment(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        meta = tickets_pb2.AttachmentUpload(ticket_id=ticket_id, filename="p.txt")
        stub.AddAttachment(
            iter([tickets_pb2.AddAttachmentRequest(metadata=meta), tickets_pb2.AddAttachmentRequest(chunk=b"probe")]),
            timeout=10,
            metadata=md,
        )


def grpc_list_attachments(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListAttachments(tickets_pb2.ListAttachmentsRequest(ticket_id=ticket_id), timeout=10, metadata=md)


def grpc_get_attachment(addr, token: str, attachment_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        list(stub.GetAttachment(tickets_pb2.GetAttachmentRequest(attachment_id=attachment_id), timeout=10, metadata=md))


def grpc_add_comment(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.AddComment(tickets_pb2.AddCommentRequest(ticket_id=ticket_id, body="probe"), timeout=10, metadata=md)


def grpc_list_comments(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListComments(tickets_pb2.ListCommentsRequest(ticket_id=ticket_id), timeout=10, metadata=md)


def grpc_update_ticket(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.UpdateTicket(
            tickets_pb2.UpdateTicketRequest(ticket_id=ticket_id, subject="Probe edit"), timeout=10, metadata=md
        )


def grpc_close_ticket(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.CloseTicket(tickets_pb2.CloseTicketRequest(ticket_id=ticket_id), timeout=10, metadata=md)


def grpc_ticket_pdf(addr, token: str, ticket_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.RenderTicketPdf(tickets_pb2.RenderTicketPdfRequest(ticket_id=ticket_id), timeout=10, metadata=md)


def _one(path: str, method: str = "GET", **kw) -> Route:  # noqa: ANN003
    return Route(method, path, VIEW, id_param="ticket_id", make_id=make_ticket, **kw)


ROUTES = [
    Route("GET", "/api/v1/tickets", VIEW, grpc=grpc_list_tickets),
    Route(
        "POST",
        "/api/v1/tickets",
        (perm.TICKETS_CREATE,),
        json=NEW_TICKET,
        grpc=grpc_create_ticket,
    ),
    Route("GET", "/api/v1/tickets/{ticket_id}", VIEW, id_param="ticket_id", make_id=make_ticket, grpc=grpc_get_ticket),
    Route("GET", "/tickets/{ticket_id}", VIEW, id_param="ticket_id", make_id=make_ticket, grpc=grpc_get_ticket),
    Route("GET", "/tickets/new", (perm.TICKETS_CREATE,), grpc=grpc_create_ticket),
    Route(
        "POST",
        "/tickets/new",
        (perm.TICKETS_CREATE,),
        form={**NEW_TICKET, "priority": "normal", "idempotency_key": "authz-probe-form-0001"},
        ok_statuses=(303,),
    ),
    Route("GET", "/", SIGNED_IN),
    Route("GET", "/tickets", VIEW, grpc=grpc_list_tickets),
    Route("GET", "/tickets.csv", VIEW, grpc=grpc_list_tickets),
    _one("/tickets/{ticket_id}/comments", "POST", form={"body": "Probe"}, ok_statuses=(303,), grpc=grpc_add_comment),
    _one(
        "/tickets/{ticket_id}/edit",
        "POST",
        form={"subject": "Probe edit", "description": "Edited by tests/authz."},
        ok_statuses=(303,),
        grpc=grpc_update_ticket,
    ),
    _one("/tickets/{ticket_id}/close", "POST", form={}, ok_statuses=(303,), grpc=grpc_close_ticket),
    _one("/tickets/{ticket_id}/pdf", grpc=grpc_ticket_pdf),
    # Live updates: only an EventSource (Accept: text/event-stream) gets the stream; after the authorisation
    # check any other client is told 406, which is what a permitted probe sees.
    _one("/tickets/{ticket_id}/events", ok_statuses=(406,), grpc=grpc_get_ticket),
    _one("/api/v1/tickets/{ticket_id}/comments", grpc=grpc_list_comments),
    _one("/api/v1/tickets/{ticket_id}/comments", "POST", json={"body": "Probe"}, grpc=grpc_add_comment),
    _one("/api/v1/tickets/{ticket_id}", "PATCH", json={"subject": "Probe edit"}, grpc=grpc_update_ticket),
    _one("/api/v1/tickets/{ticket_id}/close", "POST", grpc=grpc_close_ticket),
    _one("/api/v1/tickets/{ticket_id}/pdf", grpc=grpc_ticket_pdf),
    _one("/api/v1/tickets/{ticket_id}/attachments", grpc=grpc_list_attachments),
    _one(
        "/api/v1/tickets/{ticket_id}/attachments",
        "POST",
        files={"file": ("probe.txt", b"probe", "text/plain")},
        grpc=grpc_add_attachment,
    ),
    Route(
        "GET",
        "/api/v1/ticket-files/{attachment_id}",
        VIEW,
        id_param="attachment_id",
        make_id=make_attachment,
        grpc=grpc_get_attachment,
    ),
    Route(
        "GET",
        "/ticket-files/{attachment_id}",
        VIEW,
        id_param="attachment_id",
        make_id=make_attachment,
        grpc=grpc_get_attachment,
    ),
    Route(
        "GET",
        "/ticket-files/{attachment_id}/thumbnail",
        VIEW,
        id_param="attachment_id",
        make_id=make_image_attachment,
        grpc=grpc_get_thumbnail,
    ),
]
