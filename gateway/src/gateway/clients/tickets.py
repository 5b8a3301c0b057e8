"""TicketsService: tickets and their comments, as the principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing

import grpc
from starlette.datastructures import UploadFile

from gateway.clients import search
from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import Attachment, Comment, Page, StaffComment, Ticket, TicketStatus
from gateway.clients.uploads import upload_messages
from portal.common.v1 import common_pb2
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc

# Deadline of a file's way up or down: a 25 MB file to a slow browser takes minutes, not the usual seconds.
TRANSFER = 600.0


class TicketsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = tickets_pb2_grpc.TicketsServiceStub(channel)
        self._call = Caller("tickets", timeout)

    async def search(self, token: str, query: search.SearchQuery, *, deadline: float) -> search.SearchResults:
        """Global search (SPEC H4) in this service's records, within `deadline` seconds."""
        resp = await self._call(self._stub.Search, tickets_pb2.SearchRequest(query=query), token, deadline=deadline)
        return search.results(resp.results)

    @cached("tickets")
    async def list_tickets(
        self,
        token: str,
        *,
        page_size: int = 0,
        cursor: str = "",
        open_only: bool = False,
        query: str = "",
        status_in: Sequence[str] = (),
        status_not_in: Sequence[str] = (),
        sort: str = "",
        mine_only: bool = False,
        site_id: str = "",
        asset_id: str = "",
        assignee_id: str = "",
        unassigned_only: bool = False,
        customer_id: str = "",
        priority: str = "",
    ) -> Page[Ticket]:
        req = tickets_pb2.ListTicketsRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor),
            open_only=open_only,
            query=query,
            status_in=list(status_in),
            status_not_in=list(status_not_in),
            sort=sort,
            mine_only=mine_only,
            site_id=site_id,
            asset_id=asset_id,
            assignee_id=assignee_id,
            unassigned_only=unassigned_only,
            customer_id=customer_id,
            priority=priority,
        )
        resp = await self._call(self._stub.ListTickets, req, token)
        return Page(items=[Ticket.from_proto(t) for t in resp.tickets], next_cursor=resp.page.next_cursor or None)

    async def get_ticket(self, token: str, ticket_id: str) -> Ticket:
        resp = await self._call(self._stub.GetTicket, tickets_pb2.GetTicketRequest(ticket_id=ticket_id), token)
        return Ticket.from_proto(resp.ticket)

    async def create_ticket(
        self,
        token: str,
        *,
        subject: str,
        description: str,
        priority: str = "",
        issue_type: str = "",
        idempotency_key: str = "",
        site_id: str = "",
        asset_id: str = "",
        customer_id: str = "",
        contact_id: str = "",
        contact_name: str = "",
    ) -> Ticket:
        """Portal users open tickets for their own customer; staff name the customer (and the contact, with the
        contact's name as identity has it)."""
        req = tickets_pb2.CreateTicketRequest(
            subject=subject,
            description=description,
            priority=priority,
            issue_type=issue_type,
            idempotency_key=idempotency_key,
            site_id=site_id,
            asset_id=asset_id,
            customer_id=customer_id,
            contact_id=contact_id,
            contact_name=contact_name,
        )
        resp = await self._call(self._stub.CreateTicket, req, token)
        return Ticket.from_proto(resp.ticket)

    async def update_ticket(self, token: str, ticket_id: str, *, subject: str = "", description: str = "") -> Ticket:
        req = tickets_pb2.UpdateTicketRequest(ticket_id=ticket_id, subject=subject, description=description)
        resp = await self._call(self._stub.UpdateTicket, req, token)
        return Ticket.from_proto(resp.ticket)

    async def close_ticket(self, token: str, ticket_id: str) -> Ticket:
        resp = await self._call(self._stub.CloseTicket, tickets_pb2.CloseTicketRequest(ticket_id=ticket_id), token)
        return Ticket.from_proto(resp.ticket)

    async def add_comment(self, token: str, ticket_id: str, *, body: str, author_name: str = "") -> Comment:
        """A public comment: the portal never writes private notes."""
        req = tickets_pb2.AddCommentRequest(ticket_id=ticket_id, body=body, author_name=author_name)
        resp = await self._call(self._stub.AddComment, req, token)
        return Comment.from_proto(resp.comment)

    async def default_assignee(self, token: str) -> str:
        """Staff: who portal-created tickets go to ('' = nobody)."""
        resp = await self._call(self._stub.GetTicketSettings, tickets_pb2.GetTicketSettingsRequest(), token)
        return resp.settings.default_assignee_id

    async def set_default_assignee(self, token: str, assignee_id: str) -> str:
        """Admin only."""
        req = tickets_pb2.UpdateTicketSettingsRequest(
            settings=tickets_pb2.TicketSettings(default_assignee_id=assignee_id)
        )
        return (await self._call(self._stub.UpdateTicketSettings, req, token)).settings.default_assignee_id

    @cached("tickets")
    async def ticket_statuses(self, token: str) -> list[TicketStatus]:
        """The statuses in force, in display order (anyone signed in)."""
        resp = await self._call(self._stub.ListTicketStatuses, tickets_pb2.ListTicketStatusesRequest(), token)
        return [TicketStatus.from_proto(st) for st in resp.statuses]

    async def set_ticket_statuses(self, token: str, statuses: Sequence[TicketStatus]) -> list[TicketStatus]:
        """Admin only: replace the list."""
        req = tickets_pb2.UpdateTicketStatusesRequest(
            statuses=[
                tickets_pb2.TicketStatus(name=st.name, label_en=st.label_en, label_fr=st.label_fr, closed=st.closed)
                for st in statuses
            ]
        )
        resp = await self._call(self._stub.UpdateTicketStatuses, req, token)
        return [TicketStatus.from_proto(st) for st in resp.statuses]

    async def assign(self, token: str, ticket_id: str, assignee_id: str) -> Ticket:
        """Staff only: '' unassigns."""
        req = tickets_pb2.AssignTicketRequest(ticket_id=ticket_id, assignee_id=assignee_id)
        return Ticket.from_proto((await self._call(self._stub.AssignTicket, req, token)).ticket)

    async def set_status(self, token: str, ticket_id: str, status: str) -> Ticket:
        """Staff only."""
        req = tickets_pb2.SetTicketStatusRequest(ticket_id=ticket_id, status=status)
        return Ticket.from_proto((await self._call(self._stub.SetTicketStatus, req, token)).ticket)

    async def add_staff_comment(
        self, token: str, ticket_id: str, *, body: str, private: bool, author_name: str = ""
    ) -> StaffComment:
        """Staff: a public reply (emailed to the customer) or a private note (never leaves the staff side)."""
        req = tickets_pb2.AddCommentRequest(ticket_id=ticket_id, body=body, private=private, author_name=author_name)
        return StaffComment.from_proto((await self._call(self._stub.AddComment, req, token)).comment)

    async def staff_comments(
        self, token: str, ticket_id: str, *, page_size: int = 0, cursor: str = ""
    ) -> Page[StaffComment]:
        """Staff: public comments and private notes, each marked."""
        req = tickets_pb2.ListCommentsRequest(
            ticket_id=ticket_id, page=common_pb2.PageRequest(page_size=page_size, cursor=cursor)
        )
        resp = await self._call(self._stub.ListComments, req, token)
        return Page(
            items=[StaffComment.from_proto(c) for c in resp.comments], next_cursor=resp.page.next_cursor or None
        )

    async def list_comments(self, token: str, ticket_id: str, *, page_size: int = 0, cursor: str = "") -> Page[Comment]:
        req = tickets_pb2.ListCommentsRequest(
            ticket_id=ticket_id, page=common_pb2.PageRequest(page_size=page_size, cursor=cursor)
        )
        resp = await self._call(self._stub.ListComments, req, token)
        # Defence in depth: the service already filters private notes for portal principals.
        items = [Comment.from_proto(c) for c in resp.comments if c.is_public]
        return Page(items=items, next_cursor=resp.page.next_cursor or None)

    async def ticket_pdf(self, token: str, ticket_id: str, *, language: str = "") -> tuple[bytes, str]:
        """The PDF (in `language`, SPEC H5) and its file name."""
        resp = await self._call(
            self._stub.RenderTicketPdf,
            tickets_pb2.RenderTicketPdfRequest(ticket_id=ticket_id, language=language),
            token,
        )
        name = resp.filename if resp.filename.replace("-", "").replace(".", "").isalnum() else "ticket.pdf"
        return resp.pdf, name

    async def add_attachment(
        self, token: str, ticket_id: str, *, upload: UploadFile, comment_id: str = "", idempotency_key: str = ""
    ) -> Attachment:
        """A public file on the ticket (or on one of its comments), streamed in chunks; the service checks type, size
        and name."""
        first = tickets_pb2.AddAttachmentRequest(
            metadata=tickets_pb2.AttachmentUpload(
                ticket_id=ticket_id,
                comment_id=comment_id,
                filename=upload.filename or "",
                idempotency_key=idempotency_key,
            )
        )
        messages = upload_messages(first, upload, lambda chunk: tickets_pb2.AddAttachmentRequest(chunk=chunk))
        resp = await self._call(self._stub.AddAttachment, messages, token, deadline=max(self._call.timeout, TRANSFER))
        return Attachment.from_proto(resp.attachment)

    async def list_attachments(self, token: str, ticket_id: str) -> list[Attachment]:
        resp = await self._call(
            self._stub.ListAttachments, tickets_pb2.ListAttachmentsRequest(ticket_id=ticket_id), token
        )
        return [Attachment.from_proto(a) for a in resp.attachments if a.is_public]

    async def open_attachment(
        self, token: str, attachment_id: str, *, thumbnail: bool = False
    ) -> tuple[Attachment, AsyncIterator[bytes]]:
        """The file's (or its PNG preview's) description and its bytes as they stream from the service; the
        refusals (not found, not public) are raised before any byte."""
        req = tickets_pb2.GetAttachmentRequest(attachment_id=attachment_id, thumbnail=thumbnail)
        first, rest = await self._call.server_stream(
            self._stub.GetAttachment, req, token, deadline=max(self._call.timeout, TRANSFER)
        )
        if first.WhichOneof("part") != "attachment" or not first.attachment.is_public:
            await rest.aclose()
            raise LookupError("not a public attachment")

        async def chunks() -> AsyncIterator[bytes]:
            async with aclosing(rest):
                async for msg in rest:
                    yield msg.chunk

        return Attachment.from_proto(first.attachment), chunks()

    async def get_thumbnail(self, token: str, attachment_id: str) -> bytes:
        """An image attachment's PNG preview (small: read whole)."""
        _, chunks = await self.open_attachment(token, attachment_id, thumbnail=True)
        return b"".join([c async for c in chunks])
