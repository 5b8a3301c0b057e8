"""TicketsService: list, read and open tickets as the principal."""

from __future__ import annotations

import grpc

from gateway.clients._call import Caller
from gateway.clients.schemas import Page, Ticket
from portal.common.v1 import common_pb2
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc


class TicketsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = tickets_pb2_grpc.TicketsServiceStub(channel)
        self._call = Caller("tickets", timeout)

    async def list_tickets(
        self, token: str, *, page_size: int = 0, cursor: str = "", open_only: bool = False
    ) -> Page[Ticket]:
        req = tickets_pb2.ListTicketsRequest(
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor), open_only=open_only
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
    ) -> Ticket:
        req = tickets_pb2.CreateTicketRequest(
            subject=subject,
            description=description,
            priority=priority,
            issue_type=issue_type,
            idempotency_key=idempotency_key,
        )
        resp = await self._call(self._stub.CreateTicket, req, token)
        return Ticket.from_proto(resp.ticket)
