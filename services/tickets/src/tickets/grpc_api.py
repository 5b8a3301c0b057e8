"""TicketsService over gRPC: proto ⇄ domain and one unit of work per call; the rules live in tickets/service.py."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from portal.common.v1 import common_pb2
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from servicekit.db import Database
from servicekit.principal import current_principal
from tickets.tickets import service
from tickets.tickets.models import Ticket

SERVICE_NAME = tickets_pb2.DESCRIPTOR.services_by_name["TicketsService"].full_name


class TicketsServicer(tickets_pb2_grpc.TicketsServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def CreateTicket(  # noqa: N802 - gRPC method name
        self, request: tickets_pb2.CreateTicketRequest, context: grpc.aio.ServicerContext
    ) -> tickets_pb2.CreateTicketResponse:
        principal = current_principal()
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
                idempotency_key=request.idempotency_key,
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


def ticket_to_proto(t: Ticket) -> tickets_pb2.Ticket:
    return tickets_pb2.Ticket(
        id=t.id,
        number=t.number,
        customer_id=t.customer_id,
        contact_id=t.contact_id,
        subject=t.subject,
        description=t.description,
        status=t.status,
        priority=t.priority,
        issue_type=t.issue_type,
        created_at=_timestamp(t.created_at),
        updated_at=_timestamp(t.updated_at),
        created_by=t.created_by,
    )


def _timestamp(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at if at.tzinfo else at.replace(tzinfo=UTC))
    return ts
