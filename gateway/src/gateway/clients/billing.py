"""BillingService: invoices, payments, payment profiles, estimates, account overview.

Besides list_open_invoices (the home page's section, as schemas), the methods return the response messages;
the billing pages and API shape them (gateway/web/billing.py, gateway/api/billing.py).
"""

from __future__ import annotations

import grpc

from gateway.clients import search
from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import Invoice, Page
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2

# The billing messages the staff API reads and converts into its own schemas; only clients/ imports the
# generated code, the API names them through here.
MoneyMessage = common_pb2.Money
BillingSettingsMessage = billing_pb2.CustomerBillingSettings
InvoiceMessage = billing_pb2.Invoice
LineMessage = billing_pb2.Line
EstimateMessage = billing_pb2.Estimate
PaymentMessage = billing_pb2.Payment
RefundMessage = billing_pb2.Refund
CreditEntryMessage = billing_pb2.CreditEntry


def _page(page_size: int, cursor: str) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=page_size, cursor=cursor)


class BillingClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = billing_pb2_grpc.BillingServiceStub(channel)
        self._call = Caller("billing", timeout)
        # A payment waits for the card processor; its deadline covers billing's processor timeout.
        self._pay_timeout = max(timeout, 15.0)

    async def search(self, token: str, query: search.SearchQuery, *, deadline: float) -> search.SearchResults:
        """Global search (SPEC H4) in this service's records, within `deadline` seconds."""
        resp = await self._call(self._stub.Search, billing_pb2.SearchRequest(query=query), token, deadline=deadline)
        return search.results(resp.results)

    @cached("billing")
    async def list_open_invoices(self, token: str, *, page_size: int = 0, cursor: str = "") -> Page[Invoice]:
        req = billing_pb2.ListOpenInvoicesRequest(page=_page(page_size, cursor))
        resp = await self._call(self._stub.ListOpenInvoices, req, token)
        return Page(items=[Invoice.from_proto(i) for i in resp.invoices], next_cursor=resp.page.next_cursor or None)

    @cached("billing")
    async def open_invoices(self, token: str, *, page_size: int = 0, cursor: str = ""):  # noqa: ANN201
        req = billing_pb2.ListOpenInvoicesRequest(page=_page(page_size, cursor))
        return await self._call(self._stub.ListOpenInvoices, req, token)

    @cached("billing")
    async def list_invoices(
        self, token: str, *, query: str = "", page_size: int = 0, cursor: str = "", customer_id: str = ""
    ):  # noqa: ANN201
        req = billing_pb2.ListInvoicesRequest(page=_page(page_size, cursor), query=query, customer_id=customer_id)
        return await self._call(self._stub.ListInvoices, req, token)

    async def get_invoice(self, token: str, invoice_id: str):  # noqa: ANN201
        return await self._call(self._stub.GetInvoice, billing_pb2.GetInvoiceRequest(invoice_id=invoice_id), token)

    async def invoice_pdf(  # noqa: ANN201
        self,
        token: str,
        invoice_id: str,
        *,
        language: str = "",
        bill_to_name: str = "",
        bill_to_lines: list[str] | None = None,
    ):
        req = billing_pb2.GetInvoicePdfRequest(
            invoice_id=invoice_id,
            language=language,
            bill_to=billing_pb2.BillTo(name=bill_to_name, address_lines=bill_to_lines or []),
        )
        return await self._call(self._stub.GetInvoicePdf, req, token)

    @cached("billing")
    async def portal_summary(self, token: str, *, rows: int = 0):  # noqa: ANN201
        req = billing_pb2.GetPortalSummaryRequest(rows=rows)
        return await self._call(self._stub.GetPortalSummary, req, token)

    @cached("billing")
    async def overview(self, token: str, customer_id: str = ""):  # noqa: ANN201
        req = billing_pb2.GetAccountOverviewRequest(customer_id=customer_id)
        return await self._call(self._stub.GetAccountOverview, req, token)

    async def propose(self, token: str, amount_minor: int, currency: str = ""):  # noqa: ANN201
        req = billing_pb2.ProposeAllocationRequest(
            amount=common_pb2.Money(amount_minor=amount_minor, currency=currency)
        )
        return await self._call(self._stub.ProposeAllocation, req, token)

    async def pay(
        self,
        token: str,
        *,
        idempotency_key: str,
        allocations: list[tuple[str, int]],
        profile_id: str = "",
        processor_token: str = "",
        language: str = "",
    ):  # noqa: ANN201
        req = billing_pb2.MakePaymentRequest(
            idempotency_key=idempotency_key,
            payment_profile_id=profile_id,
            processor_token=processor_token,
            language=language,
            allocations=[
                billing_pb2.Allocation(invoice_id=i, amount=common_pb2.Money(amount_minor=a)) for i, a in allocations
            ],
        )
        return await self._call(self._stub.MakePayment, req, token, deadline=self._pay_timeout)

    async def apply_credit(  # noqa: ANN201
        self, token: str, *, idempotency_key: str, allocations: list[tuple[str, int]], language: str = ""
    ):
        req = billing_pb2.ApplyStoreCreditRequest(
            idempotency_key=idempotency_key,
            language=language,
            allocations=[
                billing_pb2.Allocation(invoice_id=i, amount=common_pb2.Money(amount_minor=a)) for i, a in allocations
            ],
        )
        return await self._call(self._stub.ApplyStoreCredit, req, token)

    @cached("billing")
    async def list_payments(self, token: str, *, query: str = "", page_size: int = 0, cursor: str = ""):  # noqa: ANN201
        req = billing_pb2.ListPaymentsRequest(page=_page(page_size, cursor), query=query)
        return await self._call(self._stub.ListPayments, req, token)

    async def pending_payments(self, token: str):  # noqa: ANN201
        return await self._call(self._stub.ListPendingPayments, billing_pb2.ListPendingPaymentsRequest(), token)

    async def check_payment(self, token: str, payment_id: str):  # noqa: ANN201
        return await self._call(self._stub.CheckPayment, billing_pb2.CheckPaymentRequest(payment_id=payment_id), token)

    @cached("billing")
    async def profiles(self, token: str):  # noqa: ANN201
        return await self._call(self._stub.ListPaymentProfiles, billing_pb2.ListPaymentProfilesRequest(), token)

    async def add_profile(self, token: str, processor_token: str, nickname: str = ""):  # noqa: ANN201
        req = billing_pb2.AddPaymentProfileRequest(processor_token=processor_token, nickname=nickname)
        return await self._call(self._stub.AddPaymentProfile, req, token)

    async def start_add_payment_method(self, token: str, *, kind: str, success_url: str, cancel_url: str):  # noqa: ANN201
        """Where to send the browser to enter a card (or bank account) on the processor's own page."""
        req = billing_pb2.StartAddPaymentMethodRequest(kind=kind, success_url=success_url, cancel_url=cancel_url)
        return await self._call(self._stub.StartAddPaymentMethod, req, token, deadline=self._pay_timeout)

    async def complete_add_payment_method(self, token: str, setup_id: str, nickname: str = ""):  # noqa: ANN201
        req = billing_pb2.CompleteAddPaymentMethodRequest(setup_id=setup_id, nickname=nickname)
        return await self._call(self._stub.CompleteAddPaymentMethod, req, token, deadline=self._pay_timeout)

    async def handle_processor_event(self, payload: bytes, signature: str):  # noqa: ANN201
        """A processor's webhook, passed on as received; no principal (billing checks the signature)."""
        req = billing_pb2.HandleProcessorEventRequest(payload=payload, signature=signature)
        return await self._call(self._stub.HandleProcessorEvent, req, None)

    async def update_profile(
        self, token: str, profile_id: str, *, nickname: str | None = None, reminder_on: str | None = None
    ):  # noqa: ANN201
        req = billing_pb2.UpdatePaymentProfileRequest(profile_id=profile_id)
        if nickname is not None:
            req.nickname = nickname
        if reminder_on is not None:
            req.reminder_on = reminder_on
        return await self._call(self._stub.UpdatePaymentProfile, req, token)

    async def delete_profile(self, token: str, profile_id: str) -> None:
        req = billing_pb2.DeletePaymentProfileRequest(profile_id=profile_id)
        await self._call(self._stub.DeletePaymentProfile, req, token)

    @cached("billing")
    async def list_estimates(
        self,
        token: str,
        *,
        query: str = "",
        status: str = "",
        page_size: int = 0,
        cursor: str = "",
        customer_id: str = "",
    ):  # noqa: ANN201
        req = billing_pb2.ListEstimatesRequest(
            page=_page(page_size, cursor), query=query, status=status, customer_id=customer_id
        )
        return await self._call(self._stub.ListEstimates, req, token)

    async def get_estimate(self, token: str, estimate_id: str):  # noqa: ANN201
        req = billing_pb2.GetEstimateRequest(estimate_id=estimate_id)
        return await self._call(self._stub.GetEstimate, req, token)

    async def estimate_pdf(self, token: str, estimate_id: str, *, language: str = ""):  # noqa: ANN201
        req = billing_pb2.GetEstimatePdfRequest(estimate_id=estimate_id, language=language)
        return await self._call(self._stub.GetEstimatePdf, req, token)

    async def decide_estimate(self, token: str, estimate_id: str, *, approve: bool, reason: str = ""):  # noqa: ANN201
        req = billing_pb2.DecideEstimateRequest(estimate_id=estimate_id, approve=approve, reason=reason)
        return await self._call(self._stub.DecideEstimate, req, token)

    # --- staff (SPEC S2, B8-B10) ---------------------------------------------------------------------------

    async def get_billing_settings(self, token: str, customer_id: str) -> billing_pb2.CustomerBillingSettings:
        req = billing_pb2.GetCustomerBillingSettingsRequest(customer_id=customer_id)
        return (await self._call(self._stub.GetCustomerBillingSettings, req, token)).settings

    async def create_invoice(
        self,
        token: str,
        *,
        customer_id: str,
        contact_id: str,
        ticket_id: str,
        issued_on: str,
        currency: str,
        lines: list[dict],
        idempotency_key: str,
        terms_days: int | None = None,
        draft: bool = False,
    ) -> billing_pb2.CreateInvoiceResponse:
        """`lines`: [{"description", "quantity", "unit_price_minor"}]; `terms_days` None: the customer's terms."""
        req = billing_pb2.CreateInvoiceRequest(
            customer_id=customer_id,
            contact_id=contact_id,
            ticket_id=ticket_id,
            issued_on=issued_on,
            currency=currency,
            lines=[billing_pb2.LineInput(**ln) for ln in lines],
            idempotency_key=idempotency_key,
            draft=draft,
        )
        if terms_days is not None:
            req.terms_days = terms_days
        return await self._call(self._stub.CreateInvoice, req, token)

    async def create_estimate(
        self,
        token: str,
        *,
        customer_id: str,
        contact_id: str,
        name: str,
        currency: str,
        lines: list[dict],
        idempotency_key: str,
        draft: bool = False,
    ) -> billing_pb2.CreateEstimateResponse:
        req = billing_pb2.CreateEstimateRequest(
            customer_id=customer_id,
            contact_id=contact_id,
            name=name,
            currency=currency,
            lines=[billing_pb2.LineInput(**ln) for ln in lines],
            idempotency_key=idempotency_key,
            draft=draft,
        )
        return await self._call(self._stub.CreateEstimate, req, token)

    async def add_store_credit(
        self,
        token: str,
        *,
        customer_id: str,
        amount_minor: int,
        currency: str,
        reference: str,
        message: str,
        idempotency_key: str,
    ) -> billing_pb2.AddStoreCreditResponse:
        req = billing_pb2.AddStoreCreditRequest(
            customer_id=customer_id,
            amount=common_pb2.Money(amount_minor=amount_minor, currency=currency),
            reference=reference,
            message=message,
            idempotency_key=idempotency_key,
        )
        return await self._call(self._stub.AddStoreCredit, req, token)

    async def update_invoice(
        self, token: str, invoice_id: str, *, contact_id: str, lines: list[dict], terms_days: int | None = None
    ) -> billing_pb2.UpdateInvoiceResponse:
        req = billing_pb2.UpdateInvoiceRequest(
            invoice_id=invoice_id, contact_id=contact_id, lines=[billing_pb2.LineInput(**ln) for ln in lines]
        )
        if terms_days is not None:
            req.terms_days = terms_days
        return await self._call(self._stub.UpdateInvoice, req, token)

    async def send_invoice(self, token: str, invoice_id: str) -> billing_pb2.SendInvoiceResponse:
        return await self._call(self._stub.SendInvoice, billing_pb2.SendInvoiceRequest(invoice_id=invoice_id), token)

    async def void_invoice(self, token: str, invoice_id: str) -> billing_pb2.VoidInvoiceResponse:
        return await self._call(self._stub.VoidInvoice, billing_pb2.VoidInvoiceRequest(invoice_id=invoice_id), token)

    async def send_estimate(self, token: str, estimate_id: str) -> billing_pb2.SendEstimateResponse:
        req = billing_pb2.SendEstimateRequest(estimate_id=estimate_id)
        return await self._call(self._stub.SendEstimate, req, token)

    async def customer_payments(
        self, token: str, customer_id: str, *, page_size: int = 0, cursor: str = ""
    ) -> billing_pb2.ListCustomerPaymentsResponse:
        req = billing_pb2.ListCustomerPaymentsRequest(customer_id=customer_id, page=_page(page_size, cursor))
        return await self._call(self._stub.ListCustomerPayments, req, token)

    async def record_payment(
        self,
        token: str,
        *,
        customer_id: str,
        method: str,
        reference: str,
        amount_minor: int,
        currency: str,
        allocations: list[tuple[str, int]],
        idempotency_key: str,
    ) -> billing_pb2.RecordPaymentResponse:
        req = billing_pb2.RecordPaymentRequest(
            customer_id=customer_id,
            method=method,
            reference=reference,
            amount=common_pb2.Money(amount_minor=amount_minor, currency=currency),
            allocations=[
                billing_pb2.Allocation(invoice_id=i, amount=common_pb2.Money(amount_minor=a, currency=currency))
                for i, a in allocations
            ],
            idempotency_key=idempotency_key,
        )
        return await self._call(self._stub.RecordPayment, req, token)

    async def refund_payment(
        self, token: str, payment_id: str, *, amount_minor: int, currency: str, reason: str, idempotency_key: str
    ) -> billing_pb2.RefundPaymentResponse:
        req = billing_pb2.RefundPaymentRequest(
            payment_id=payment_id,
            amount=common_pb2.Money(amount_minor=amount_minor, currency=currency),
            reason=reason,
            idempotency_key=idempotency_key,
        )
        # A refund waits for the card processor, like a payment.
        return await self._call(self._stub.RefundPayment, req, token, deadline=self._pay_timeout)

    async def credit_entries(
        self, token: str, customer_id: str, *, page_size: int = 0, cursor: str = ""
    ) -> billing_pb2.ListCreditEntriesResponse:
        req = billing_pb2.ListCreditEntriesRequest(customer_id=customer_id, page=_page(page_size, cursor))
        return await self._call(self._stub.ListCreditEntries, req, token)
