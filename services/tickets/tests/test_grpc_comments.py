"""The issue 4 RPCs over a real gRPC socket: status codes for isolation, permissions and closed tickets."""

from __future__ import annotations

import io
from datetime import UTC

import grpc
import pytest

from portal.tickets.v1 import tickets_pb2
from servicekit import i18n
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


async def code_of(call) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


async def test_comment_close_and_isolation_status_codes(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    carol = served.keys.metadata(principals.portal("cust-b", "contact-b", permissions=ALL))
    staff = served.keys.metadata(principals.staff())
    site = await served.assets.site("cust-a")
    ticket = (
        await s.CreateTicket(
            tickets_pb2.CreateTicketRequest(subject="Fan noise", description="Loud", site_id=site), metadata=alice
        )
    ).ticket
    assert ticket.site_id == site and not ticket.HasField("closed_at")

    hi = tickets_pb2.AddCommentRequest(ticket_id=ticket.id, body="hi", author_name="Alice")
    await s.AddComment(hi, metadata=alice)
    await s.AddComment(tickets_pb2.AddCommentRequest(ticket_id=ticket.id, body="note", private=True), metadata=staff)
    seen = (await s.ListComments(tickets_pb2.ListCommentsRequest(ticket_id=ticket.id), metadata=alice)).comments
    assert [(c.body, c.author_name, c.author_kind, c.is_public) for c in seen] == [("hi", "Alice", "portal_user", True)]
    everything = await s.ListComments(tickets_pb2.ListCommentsRequest(ticket_id=ticket.id), metadata=staff)
    assert len(everything.comments) == 2

    code, _ = await code_of(
        s.AddComment(tickets_pb2.AddCommentRequest(ticket_id=ticket.id, body="x", private=True), metadata=alice)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await code_of(
        s.AssignTicket(tickets_pb2.AssignTicketRequest(ticket_id=ticket.id, assignee_id="t"), metadata=alice)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    for call in (
        s.AddComment(tickets_pb2.AddCommentRequest(ticket_id=ticket.id, body="x"), metadata=carol),
        s.ListComments(tickets_pb2.ListCommentsRequest(ticket_id=ticket.id), metadata=carol),
        s.CloseTicket(tickets_pb2.CloseTicketRequest(ticket_id=ticket.id), metadata=carol),
        s.UpdateTicket(tickets_pb2.UpdateTicketRequest(ticket_id=ticket.id, subject="x"), metadata=carol),
    ):
        assert (await code_of(call))[0] == grpc.StatusCode.NOT_FOUND

    assigned = (
        await s.AssignTicket(tickets_pb2.AssignTicketRequest(ticket_id=ticket.id, assignee_id="tech-7"), metadata=staff)
    ).ticket
    assert assigned.assignee_id == "tech-7"
    closed = (await s.CloseTicket(tickets_pb2.CloseTicketRequest(ticket_id=ticket.id), metadata=alice)).ticket
    assert closed.status == "Closed" and closed.HasField("closed_at")
    code, details = await code_of(
        s.AddComment(tickets_pb2.AddCommentRequest(ticket_id=ticket.id, body="more"), metadata=alice)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "closed" in details


async def test_pdf_holds_public_comments_only(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    carol = served.keys.metadata(principals.portal("cust-b", "contact-b", permissions=ALL))
    staff = served.keys.metadata(principals.staff())
    ticket = (
        await s.CreateTicket(
            tickets_pb2.CreateTicketRequest(subject="Écran noir", description="Après le logo"), metadata=alice
        )
    ).ticket
    await s.AddComment(tickets_pb2.AddCommentRequest(ticket_id=ticket.id, body="PUBLICREPLY"), metadata=staff)
    marker = "PRIVATEMARKER7731"
    await s.AddComment(tickets_pb2.AddCommentRequest(ticket_id=ticket.id, body=marker, private=True), metadata=staff)
    for md in (alice, staff):
        reply = await s.RenderTicketPdf(tickets_pb2.RenderTicketPdfRequest(ticket_id=ticket.id), metadata=md)
        assert reply.pdf.startswith(b"%PDF-") and reply.filename == f"ticket-{ticket.number}.pdf"
        text = pdf_text(reply.pdf)
        assert "PUBLICREPLY" in text and "Écran noir" in text
        assert marker not in text
    code, _ = await code_of(s.RenderTicketPdf(tickets_pb2.RenderTicketPdfRequest(ticket_id=ticket.id), metadata=carol))
    assert code == grpc.StatusCode.NOT_FOUND
    # SPEC H5: in the requester's language, its times in the operator's time zone.
    fr = pdf_text(
        (
            await s.RenderTicketPdf(
                tickets_pb2.RenderTicketPdfRequest(ticket_id=ticket.id, language="fr"), metadata=alice
            )
        ).pdf
    )
    assert f"Ticket n°{ticket.number} : Écran noir" in fr and "Statut" in fr and "Commentaire (1)" in fr
    assert i18n.day(ticket.created_at.ToDatetime(tzinfo=UTC), "fr").replace("\u00a0", " ") in fr.replace("\u00a0", " ")
    assert "Status:" not in fr


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
