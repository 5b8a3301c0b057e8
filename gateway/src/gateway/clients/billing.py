"""BillingService: the principal's open invoices."""

from __future__ import annotations

import grpc

from gateway.clients._call import Caller
from gateway.clients.schemas import Invoice, Page
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2


class BillingClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = billing_pb2_grpc.BillingServiceStub(channel)
        self._call = Caller("billing", timeout)

    async def list_open_invoices(self, token: str, *, page_size: int = 0, cursor: str = "") -> Page[Invoice]:
        req = billing_pb2.ListOpenInvoicesRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))
        resp = await self._call(self._stub.ListOpenInvoices, req, token)
        return Page(items=[Invoice.from_proto(i) for i in resp.invoices], next_cursor=resp.page.next_cursor or None)
