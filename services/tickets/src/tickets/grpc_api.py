"""TicketsService over gRPC: proto ⇄ domain and one unit of work per call; the rules live in tickets/service.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from sqlalchemy.exc import IntegrityError

from portal.common.v1 import common_pb2
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from servicekit import uploads
from servicekit.blobs import BlobStore
from servicekit.db import Database
from servicekit.errors import InvalidArgument, NotFound
from servicekit.principal import METADATA_KEY, current_principal
from servicekit.protos import timestamp
from tickets import search as global_search
from tickets.attachments import service as attachments
from tickets.comments import service as comments
from tickets.tickets import charts, service, statuses
from tickets.tickets import settings as ticket_settings
from tickets.tickets.models import Attachment, Comment, Ticket
from tickets.tickets.refs import RefChecker

SERVICE_NAME = tickets_pb2.DESCRIPTOR.services_by_name["TicketsService"].full_name


class TicketsServicer(tickets_pb2_grpc.TicketsServiceServicer):
    def __init__(
        self,
        db: Database,
        *,
        blobs: BlobStore,
        max_attachment_bytes: int,
        default_assignee: str = "",
        operator_name: str = "",
        refs: RefChecker,
    ) -> None:
        self.db = db
        self.refs = refs
        self.blobs = blobs
        self.max_attachment_bytes = max_attachment_bytes
        self.default_assignee = default_assignee
        self.operator_name = operator_name

    async def CreateTicket(  # noqa: N802 - gRPC method name
        self, request: tickets_pb2.CreateTicketRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.CreateTicketResponse:
        principal = current_principal()
        # Checked with assets before the unit of work opens (no network call while a transaction is held).
        await self.refs.check(
            _token(context),
            customer_id=service.creating_customer(principal, request.customer_id),
            site_id=service.link_site(principal, request.site_id.strip()),
            asset_id=request.asset_id.strip(),
        )
        async with self.db.unit_of_work() as s:
            ticket = await service.create_ticket(
                s,
                principal=principal,
                subject=request.subject,
                description=request.description,
                priority=request.priority,
                issue_type=request.issue_type,
                customer_id=request.customer_id,
                contact_id=request.contact_id,
                contact_name=request.contact_name,
                idempotency_key=request.idempotency_key,
                site_id=request.site_id,
                asset_id=request.asset_id,
                default_assignee=await ticket_settings.default_assignee(s, fallback=self.default_assignee),
            )
        return tickets_pb2.CreateTicketResponse(ticket=ticket_to_proto(ticket))

    async def ListTickets(  # noqa: N802
        self, request: tickets_pb2.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.ListTicketsResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            page = await service.list_tickets(
                s,
                principal=principal,
                page_size=request.page.page_size,
                cursor=request.page.cursor,
                open_only=request.open_only,
                query=request.query,
                status_in=list(request.status_in),
                status_not_in=list(request.status_not_in),
                sort=request.sort,
                mine_only=request.mine_only,
                site_id=request.site_id,
                asset_id=request.asset_id,
                assignee_id=request.assignee_id,
                unassigned_only=request.unassigned_only,
                customer_id=request.customer_id,
                priority=request.priority,
            )
        return tickets_pb2.ListTicketsResponse(
            tickets=[ticket_to_proto(t) for t in page.tickets],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def GetTicket(  # noqa: N802
        self, request: tickets_pb2.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.GetTicketResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            ticket = await service.get_ticket(s, principal=principal, ticket_id=request.ticket_id)
        return tickets_pb2.GetTicketResponse(ticket=ticket_to_proto(ticket))

    async def UpdateTicket(  # noqa: N802
        self, request: tickets_pb2.UpdateTicketRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.UpdateTicketResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            ticket = await service.update_ticket(
                s,
                principal=principal,
                ticket_id=request.ticket_id,
                subject=request.subject,
                description=request.description,
            )
            out = ticket_to_proto(ticket)
        return tickets_pb2.UpdateTicketResponse(ticket=out)

    async def CloseTicket(  # noqa: N802
        self, request: tickets_pb2.CloseTicketRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.CloseTicketResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            ticket = await service.close_ticket(s, principal=principal, ticket_id=request.ticket_id)
            out = ticket_to_proto(ticket)
        return tickets_pb2.CloseTicketResponse(ticket=out)

    async def AssignTicket(  # noqa: N802
        self, request: tickets_pb2.AssignTicketRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.AssignTicketResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            ticket = await service.assign_ticket(
                s, principal=principal, ticket_id=request.ticket_id, assignee_id=request.assignee_id
            )
            out = ticket_to_proto(ticket)
        return tickets_pb2.AssignTicketResponse(ticket=out)

    async def GetTicketSettings(  # noqa: N802
        self, request: tickets_pb2.GetTicketSettingsRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.GetTicketSettingsResponse:
        async with self.db.unit_of_work() as s:
            value = await ticket_settings.read(s, principal=current_principal(), fallback=self.default_assignee)
        return tickets_pb2.GetTicketSettingsResponse(settings=tickets_pb2.TicketSettings(default_assignee_id=value))

    async def UpdateTicketSettings(  # noqa: N802
        self, request: tickets_pb2.UpdateTicketSettingsRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.UpdateTicketSettingsResponse:
        async with self.db.unit_of_work() as s:
            value = await ticket_settings.update(
                s, principal=current_principal(), default_assignee_id=request.settings.default_assignee_id
            )
        return tickets_pb2.UpdateTicketSettingsResponse(settings=tickets_pb2.TicketSettings(default_assignee_id=value))

    async def ListTicketStatuses(  # noqa: N802
        self, request: tickets_pb2.ListTicketStatusesRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.ListTicketStatusesResponse:
        current_principal()
        async with self.db.unit_of_work() as s:
            in_force = await statuses.current(s)
        return tickets_pb2.ListTicketStatusesResponse(statuses=[_status(st) for st in in_force])

    async def UpdateTicketStatuses(  # noqa: N802
        self, request: tickets_pb2.UpdateTicketStatusesRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.UpdateTicketStatusesResponse:
        proposed = [statuses.Status(st.name, st.label_en, st.label_fr, st.closed) for st in request.statuses]
        async with self.db.unit_of_work() as s:
            saved = await statuses.replace(
                s, principal=current_principal(), proposed=proposed, fallback_assignee=self.default_assignee
            )
        return tickets_pb2.UpdateTicketStatusesResponse(statuses=[_status(st) for st in saved])

    async def SetTicketStatus(  # noqa: N802
        self, request: tickets_pb2.SetTicketStatusRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.SetTicketStatusResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            ticket = await service.set_status(
                s, principal=principal, ticket_id=request.ticket_id, status=request.status
            )
            out = ticket_to_proto(ticket)
        return tickets_pb2.SetTicketStatusResponse(ticket=out)

    async def AddComment(  # noqa: N802
        self, request: tickets_pb2.AddCommentRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.AddCommentResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            comment = await comments.add_comment(
                s,
                principal=principal,
                ticket_id=request.ticket_id,
                body=request.body,
                private=request.private,
                author_name=request.author_name,
            )
        return tickets_pb2.AddCommentResponse(comment=comment_to_proto(comment))

    async def ListComments(  # noqa: N802
        self, request: tickets_pb2.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.ListCommentsResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            page = await comments.list_comments(
                s,
                principal=principal,
                ticket_id=request.ticket_id,
                page_size=request.page.page_size,
                cursor=request.page.cursor,
            )
        return tickets_pb2.ListCommentsResponse(
            comments=[comment_to_proto(c) for c in page.comments],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def Search(  # noqa: N802
        self, request: tickets_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.SearchResponse:
        """Global search (SPEC H4) over tickets, comments and articles, as the principal's lists would show them."""
        principal = current_principal()
        query = global_search.parse(request.query, staff=principal.is_staff)
        async with self.db.unit_of_work() as s:
            found = await global_search.search(s, principal=principal, query=query)
        return tickets_pb2.SearchResponse(results=found.to_proto())

    async def RenderTicketPdf(  # noqa: N802
        self, request: tickets_pb2.RenderTicketPdfRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.RenderTicketPdfResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            ticket, public = await comments.ticket_with_public_comments(
                s, principal=principal, ticket_id=request.ticket_id
            )
        # Drawn after the unit of work: the connection is not held while the CPU works.
        from tickets.tickets.pdf import render  # fpdf2 costs ~50 MB of memory: load it on the first PDF

        data = render(ticket, public, operator_name=self.operator_name, language=request.language)
        return tickets_pb2.RenderTicketPdfResponse(pdf=data, filename=f"ticket-{ticket.number}.pdf")

    async def AddAttachment(  # noqa: N802
        self, request_iterator: AsyncIterator[tickets_pb2.AddAttachmentRequest], context: grpc.aio.ServicerContext
    ) -> tickets_pb2.AddAttachmentResponse:
        principal = current_principal()
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "metadata":
            raise InvalidArgument("an upload starts with its metadata, then the file's chunks")
        meta = first.metadata
        # Checked first so nothing is stored for a ticket the caller may not write to, or twice for a retry.
        async with self.db.unit_of_work() as s:
            await attachments.writable_ticket(s, principal=principal, ticket_id=meta.ticket_id, private=meta.private)
            done = await attachments.by_idempotency_key(
                s, principal=principal, ticket_id=meta.ticket_id, idempotency_key=meta.idempotency_key
            )
        if done is not None:
            return tickets_pb2.AddAttachmentResponse(attachment=attachment_to_proto(done))
        # The bytes stream to the blob store outside any unit of work (it may be a network store): the type is
        # decided from the head, the rest checked as it passes, nothing kept on refusal.
        stored = await uploads.store_upload(
            self.blobs, meta.filename, _chunks(request_iterator), max_bytes=self.max_attachment_bytes
        )
        try:
            async with self.db.unit_of_work() as s:
                att = await attachments.add_attachment(
                    s,
                    principal=principal,
                    ticket_id=meta.ticket_id,
                    comment_id=meta.comment_id,
                    filename=stored.filename,
                    content_type=stored.content_type,
                    size_bytes=stored.size,
                    blob_key=stored.key,
                    thumbnail_key=stored.thumbnail_key,
                    private=meta.private,
                    idempotency_key=meta.idempotency_key,
                )
        except BaseException as exc:
            await self.blobs.delete(stored.key)
            if stored.thumbnail_key:
                await self.blobs.delete(stored.thumbnail_key)
            if isinstance(exc, IntegrityError) and meta.idempotency_key:
                # The same retry raced this one and won: its attachment is the answer.
                async with self.db.unit_of_work() as s:
                    done = await attachments.by_idempotency_key(
                        s, principal=principal, ticket_id=meta.ticket_id, idempotency_key=meta.idempotency_key
                    )
                if done is not None:
                    return tickets_pb2.AddAttachmentResponse(attachment=attachment_to_proto(done))
            raise
        return tickets_pb2.AddAttachmentResponse(attachment=attachment_to_proto(att))

    async def ListAttachments(  # noqa: N802
        self, request: tickets_pb2.ListAttachmentsRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.ListAttachmentsResponse:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await attachments.list_attachments(s, principal=principal, ticket_id=request.ticket_id)
        return tickets_pb2.ListAttachmentsResponse(attachments=[attachment_to_proto(a) for a in rows])

    async def GetAttachment(  # noqa: N802
        self, request: tickets_pb2.GetAttachmentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tickets_pb2.GetAttachmentResponse]:
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            att = await attachments.get_attachment(
                s, principal=principal, ticket_id=request.ticket_id, attachment_id=request.attachment_id
            )
        if request.thumbnail and not att.thumbnail_key:
            raise NotFound("this attachment has no thumbnail")
        chunks = aiter(self.blobs.open(att.thumbnail_key if request.thumbnail else att.blob_key))
        try:
            # Read before the description is sent, so a missing file is NOT_FOUND rather than a cut stream.
            chunk = await anext(chunks, b"")
        except FileNotFoundError:
            raise NotFound("the attachment's file is missing") from None
        yield tickets_pb2.GetAttachmentResponse(attachment=attachment_to_proto(att))
        while chunk:
            yield tickets_pb2.GetAttachmentResponse(chunk=chunk)
            chunk = await anext(chunks, b"")

    async def GetTicketCharts(  # noqa: N802
        self, request: tickets_pb2.GetTicketChartsRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.GetTicketChartsResponse:
        async with self.db.unit_of_work() as s:
            c = await charts.ticket_charts(s, principal=current_principal())
        return tickets_pb2.GetTicketChartsResponse(
            open_by_priority=[tickets_pb2.PriorityCount(priority=p, count=n) for p, n in c.open_by_priority],
            resolution_by_priority=[
                tickets_pb2.PriorityResolution(priority=r.priority, count=r.count, mean_hours=r.mean_hours)
                for r in c.resolution_by_priority
            ],
        )


def attachment_to_proto(a: Attachment) -> tickets_pb2.Attachment:
    return tickets_pb2.Attachment(
        id=a.id,
        ticket_id=a.ticket_id,
        comment_id=a.comment_id,
        filename=a.filename,
        content_type=a.content_type,
        size_bytes=a.size_bytes,
        is_public=a.is_public,
        created_at=timestamp(a.created_at),
        created_by=a.created_by,
        has_thumbnail=bool(a.thumbnail_key),
    )


def ticket_to_proto(t: Ticket) -> tickets_pb2.Ticket:
    return tickets_pb2.Ticket(
        id=t.id,
        number=t.number,
        customer_id=t.customer_id,
        contact_id=t.contact_id,
        contact_name=t.contact_name,
        subject=t.subject,
        description=t.description,
        status=t.status,
        priority=t.priority,
        issue_type=t.issue_type,
        created_at=timestamp(t.created_at),
        updated_at=timestamp(t.updated_at),
        created_by=t.created_by,
        assignee_id=t.assignee_id,
        site_id=t.site_id,
        asset_id=t.asset_id,
        closed_at=timestamp(t.closed_at) if t.closed_at else None,
        invoice_id=t.invoice_id,
        invoice_number=t.invoice_number,
    )


def comment_to_proto(c: Comment) -> tickets_pb2.Comment:
    return tickets_pb2.Comment(
        id=c.id,
        ticket_id=c.ticket_id,
        body=c.body,
        is_public=c.is_public,
        author_kind=c.author_kind,
        author_id=c.author_id,
        author_name=c.author_name,
        created_at=timestamp(c.created_at),
    )


def _token(context: grpc.aio.ServicerContext) -> str:
    """The caller's principal token, forwarded so the peer applies the same principal's rules."""
    auth = dict(context.invocation_metadata() or ()).get(METADATA_KEY, "")
    return auth.removeprefix("Bearer ")


async def _chunks(request_iterator: AsyncIterator[tickets_pb2.AddAttachmentRequest]) -> AsyncIterator[bytes]:
    """The file's bytes from the messages after the metadata."""
    async for msg in request_iterator:
        if msg.WhichOneof("part") != "chunk":
            raise InvalidArgument("after the metadata an upload carries only chunks")
        yield msg.chunk


def _status(st: statuses.Status) -> tickets_pb2.TicketStatus:
    return tickets_pb2.TicketStatus(name=st.name, label_en=st.label_en, label_fr=st.label_fr, closed=st.closed)
