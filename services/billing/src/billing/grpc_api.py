"""portal.billing.v1.BillingService: proto ⇄ domain; the rules live in the aggregates' service modules."""

from __future__ import annotations

import grpc

from billing.invoices import service as invoices
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit.db import Database
from servicekit.pagination import page_size
from servicekit.principal import current_principal


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListOpenInvoices(
        self, request: billing_pb2.ListOpenInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> billing_pb2.ListOpenInvoicesResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await invoices.list_open_invoices(s, principal=principal, page_size=size, cursor=request.page.cursor)
        return billing_pb2.ListOpenInvoicesResponse(
            invoices=[_invoice(item) for item in page.invoices],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )


def _invoice(item: invoices.OpenInvoice) -> billing_pb2.Invoice:
    inv = item.invoice
    return billing_pb2.Invoice(
        id=inv.id,
        number=inv.number,
        customer_id=inv.customer_id,
        contact_id=inv.contact_id or "",
        issued_on=inv.issued_on.isoformat(),
        due_on=inv.due_on.isoformat(),
        status=inv.status,
        items_summary=item.items_summary,
        total=common_pb2.Money(amount_minor=inv.total_minor, currency=inv.currency),
        balance_due=common_pb2.Money(amount_minor=inv.balance_minor, currency=inv.currency),
    )
