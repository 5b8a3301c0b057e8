"""Staff JSON API for billing (SPEC S2, B8, B9, B10): the tax rate and invoice terms billing applies to a customer
(read here, set in identity's customer settings), invoices with lines (tax, terms and an optional ticket; drafts,
edit while draft, send, void), estimates (drafts, send), a customer's payments (manual payments, refunds) and store
credit (add, ledger). The staff console's billing pages (web/staff/billing.py) do the same through the same RPCs.

Staff sign in with `POST /api/v1/staff/sessions` and send that token as the bearer; a portal session gets 403, and
billing itself answers PERMISSION_DENIED to any non-staff principal on these RPCs. Billing does not know which
customers exist (identity owns them), so every write first asks identity for the customer (and the contact), and
the tickets service for a linked ticket: an unknown one is a 400 (in the body) or 404 (in the path), never a record
for nobody. Creations take an `Idempotency-Key` header that billing keeps with the record in one transaction: the
first request answers 201, a repeat with the same key 200 with `replayed: true` and the same record.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import grpc
from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems
from gateway.api.staff.checks import bad_request, check_customer
from gateway.clients import Backends
from gateway.clients.billing import (
    BillingSettingsMessage,
    CreditEntryMessage,
    EstimateMessage,
    InvoiceMessage,
    LineMessage,
    MoneyMessage,
    PaymentMessage,
    RefundMessage,
)
from gateway.edge.idempotency import IDEMPOTENCY_KEY
from servicekit.money import MAX_MINOR

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: billing"],
    responses=problems(400, 401, 403, 404, 409, 503),
)

Id = Annotated[str, Path(min_length=1, max_length=36)]
RefId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=36)]
CustomerId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
KEY_HELP = "16-64 letters, digits, - or _; repeat it to get the first request's record instead of a second one."
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", max_length=200, description=KEY_HELP)]


# --- schemas ---------------------------------------------------------------------------------------------------


class Money(BaseModel):
    amount_minor: int = Field(description="Integer minor units (cents)")
    currency: str

    @classmethod
    def of(cls, m: MoneyMessage) -> Money:
        return cls(amount_minor=m.amount_minor, currency=m.currency)


class BillingSettings(BaseModel):
    customer_id: str
    tax_rate_bp: int = Field(description="Basis points: 825 = 8.25 %")
    tax_free: bool
    terms_days: int = Field(description="Days from the invoice date to its due date")
    configured: bool = Field(
        description="False until the customer's settings reached billing from identity; these are then the defaults"
    )

    @classmethod
    def of(cls, s: BillingSettingsMessage) -> BillingSettings:
        return cls(
            customer_id=s.customer_id,
            tax_rate_bp=s.tax_rate_bp,
            tax_free=s.tax_free,
            terms_days=s.terms_days,
            configured=s.configured,
        )


class LineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    quantity: Annotated[
        str,
        StringConstraints(strip_whitespace=True, pattern=r"^\d{1,9}(\.\d{1,3})?$"),
        Field(description='An exact decimal as text, up to 3 decimals: "1", "1.5", "0.25"'),
    ] = "1"
    unit_price_minor: Annotated[int, Field(ge=0, le=MAX_MINOR, description="Integer minor units")]

    def values(self) -> dict:
        return {"description": self.description, "quantity": self.quantity, "unit_price_minor": self.unit_price_minor}


Lines = Annotated[list[LineBody], Field(min_length=1, max_length=200)]


class NewInvoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    contact_id: Annotated[RefId, Field(description="One of the customer's contacts, or empty for the customer")] = ""
    ticket_id: Annotated[RefId, Field(description="The customer's ticket this invoice bills (T1's marker)")] = ""
    currency: Currency = "USD"
    issued_on: Annotated[date | None, Field(description="YYYY-MM-DD; today when left out")] = None
    terms_days: Annotated[int | None, Field(ge=0, le=365, description="Left out: the customer's terms")] = None
    lines: Lines
    draft: bool = Field(
        False,
        description="Keep it as a draft: no number, not on the portal, editable, until `POST /invoices/{id}/send`. "
        "False (the default) sends it at once",
    )


class DraftInvoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: Annotated[RefId, Field(description="One of the customer's contacts, or empty for the customer")] = ""
    terms_days: Annotated[int | None, Field(ge=0, le=365, description="Left out: the customer's terms")] = None
    lines: Lines


class NewEstimate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    contact_id: Annotated[RefId, Field(description="One of the customer's contacts, or empty for the customer")] = ""
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    currency: Currency = "USD"
    lines: Lines
    draft: bool = Field(False, description="Keep it as a draft until `POST /estimates/{id}/send`; false sends it")


class NewStoreCredit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: Annotated[int, Field(gt=0, le=MAX_MINOR, description="Integer minor units, more than 0")]
    currency: Currency = "USD"
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class StaffInvoice(BaseModel):
    id: str
    number: str
    customer_id: str
    contact_id: str
    ticket_id: str
    issued_on: str
    due_on: str
    status: str = Field(description="draft, open, paid or void")
    sent_on: str | None = Field(description="When it was sent; null for a draft")
    voided_at: str | None
    items_summary: str
    subtotal: Money
    tax_rate_bp: int = Field(description="The rate applied, in basis points; 0 for a tax-free customer")
    tax: Money
    total: Money
    balance_due: Money

    @classmethod
    def of(cls, i: InvoiceMessage) -> StaffInvoice:
        return cls(
            id=i.id,
            number=i.number,
            customer_id=i.customer_id,
            contact_id=i.contact_id,
            ticket_id=i.ticket_id,
            issued_on=i.issued_on,
            due_on=i.due_on,
            status=i.status,
            sent_on=i.sent_on or None,
            voided_at=i.voided_at or None,
            items_summary=i.items_summary,
            subtotal=Money.of(i.subtotal),
            tax_rate_bp=i.tax_rate_bp,
            tax=Money.of(i.tax),
            total=Money.of(i.total),
            balance_due=Money.of(i.balance_due),
        )


class Line(BaseModel):
    description: str
    quantity: str
    unit_price: Money
    amount: Money

    @classmethod
    def of(cls, ln: LineMessage) -> Line:
        return cls(
            description=ln.description,
            quantity=ln.quantity,
            unit_price=Money.of(ln.unit_price),
            amount=Money.of(ln.amount),
        )


class AppliedPayment(BaseModel):
    payment_id: str
    paid_at: str
    amount: Money
    method: str
    refunded: Money = Field(description="What refunds gave back of that payment; the invoice stays paid")


class InvoiceDetail(BaseModel):
    invoice: StaffInvoice
    lines: list[Line]
    payments: list[AppliedPayment]


class InvoiceCreated(BaseModel):
    invoice: StaffInvoice
    replayed: bool = Field(description="True when this Idempotency-Key had already made the invoice")


class InvoicePage(BaseModel):
    items: list[StaffInvoice]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class StaffEstimate(BaseModel):
    id: str
    number: str
    customer_id: str
    contact_id: str
    name: str
    status: str = Field(description="draft, open, approved or declined")
    sent_on: str
    total: Money
    decided_at: str | None
    decided_by: str | None = Field(description="The portal user (or staff member) who approved or declined it")
    decided_by_name: str | None = Field(description="Their name when they decided")
    decision_reason: str | None = Field(description="The reason they gave, if any")

    @classmethod
    def of(cls, e: EstimateMessage) -> StaffEstimate:
        return cls(
            id=e.id,
            number=e.number,
            customer_id=e.customer_id,
            contact_id=e.contact_id,
            name=e.name,
            status=e.status,
            sent_on=e.sent_on,
            total=Money.of(e.total),
            decided_at=e.decided_at or None,
            decided_by=e.decided_by or None,
            decided_by_name=e.decided_by_name or None,
            decision_reason=e.decision_reason or None,
        )


class EstimateDetail(BaseModel):
    estimate: StaffEstimate
    lines: list[Line]


class EstimateCreated(BaseModel):
    estimate: StaffEstimate
    replayed: bool = Field(description="True when this Idempotency-Key had already made the estimate")


class EstimatePage(BaseModel):
    items: list[StaffEstimate]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class CreditAdded(BaseModel):
    entry_id: str = Field(description="The store credit ledger entry this request wrote")
    credit_balance: Money = Field(description="The customer's credit balance afterwards")
    replayed: bool = Field(description="True when this Idempotency-Key had already added the credit")


class InvoiceChanged(BaseModel):
    invoice: StaffInvoice
    replayed: bool = Field(description="True when it was already sent (or void): nothing changed")


class EstimateSent(BaseModel):
    estimate: StaffEstimate
    replayed: bool = Field(description="True when it was already sent: nothing changed")


class StaffPayment(BaseModel):
    id: str
    customer_id: str
    status: str = Field(description="pending, succeeded, failed or voided")
    amount: Money
    method: str = Field(description='Card brand and last four, "store credit", or "Cash", "Check 1042"…')
    created_at: str
    invoice_numbers: list[str]
    allocations: list[dict] = Field(description="[{invoice_id, amount_minor}]")
    credited: Money = Field(description="The part kept as store credit")
    refunded: Money = Field(description="What refunds have given back")
    refundable: bool = Field(description="A succeeded processor payment with something left to refund")
    refundable_amount: Money
    failure_reason: str

    @classmethod
    def of(cls, p: PaymentMessage) -> StaffPayment:
        return cls(
            id=p.id,
            customer_id=p.customer_id,
            status=p.status,
            amount=Money.of(p.amount),
            method=p.method,
            created_at=p.created_at,
            invoice_numbers=list(p.invoice_numbers),
            allocations=[{"invoice_id": a.invoice_id, "amount_minor": a.amount.amount_minor} for a in p.allocations],
            credited=Money.of(p.credited),
            refunded=Money.of(p.refunded),
            refundable=p.refundable,
            refundable_amount=Money.of(p.refundable_amount),
            failure_reason=p.failure_reason,
        )


class PaymentPage(BaseModel):
    items: list[StaffPayment]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class AllocationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]
    amount_minor: Annotated[int, Field(gt=0, le=MAX_MINOR)]


class NewManualPayment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["cash", "check", "bank_transfer"]
    reference: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=40),
        Field(description="The check number or transfer reference (required unless cash)"),
    ] = ""
    amount_minor: Annotated[int, Field(ge=0, le=MAX_MINOR, description="With no allocations: spread oldest first")]
    currency: Currency = "USD"
    allocations: Annotated[list[AllocationBody], Field(max_length=200)] = []


class ManualPaymentRecorded(BaseModel):
    payment: StaffPayment
    replayed: bool


class NewRefund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: Annotated[int, Field(gt=0, le=MAX_MINOR, description="At most what is left of the payment")]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class StaffRefund(BaseModel):
    id: str
    payment_id: str
    status: str = Field(description="succeeded, failed (the processor refused; failure_reason says why) or pending")
    amount: Money
    reason: str
    failure_reason: str
    created_at: str
    created_by: str

    @classmethod
    def of(cls, r: RefundMessage) -> StaffRefund:
        return cls(
            id=r.id,
            payment_id=r.payment_id,
            status=r.status,
            amount=Money.of(r.amount),
            reason=r.reason,
            failure_reason=r.failure_reason,
            created_at=r.created_at,
            created_by=r.created_by,
        )


class RefundMade(BaseModel):
    refund: StaffRefund
    payment: StaffPayment
    replayed: bool


class LedgerEntry(BaseModel):
    id: str
    amount: Money = Field(description="Positive: credit added; negative: credit spent on an invoice")
    reference: str
    message: str
    created_at: str
    created_by: str
    invoice_id: str

    @classmethod
    def of(cls, e: CreditEntryMessage) -> LedgerEntry:
        return cls(
            id=e.id,
            amount=Money.of(e.amount),
            reference=e.reference,
            message=e.message,
            created_at=e.created_at,
            created_by=e.created_by,
            invoice_id=e.invoice_id,
        )


class Ledger(BaseModel):
    items: list[LedgerEntry]
    credit_balance: Money
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


# --- checks ----------------------------------------------------------------------------------------------------


def _key(idempotency_key: str) -> str:
    if not IDEMPOTENCY_KEY.match(idempotency_key):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Idempotency-Key: send this header of {KEY_HELP}")
    return idempotency_key


async def _check_ticket(backends: Backends, token: str, customer_id: str, ticket_id: str) -> None:
    try:
        ticket = await backends.tickets.get_ticket(token, ticket_id)
    except grpc.aio.AioRpcError as err:
        if err.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise
        raise bad_request("ticket_id", "no such ticket") from None
    if ticket.customer_id != customer_id:
        raise bad_request("ticket_id", "the ticket is not this customer's")


def _created(response: Response, replayed: bool, location: str) -> None:
    response.status_code = status.HTTP_200_OK if replayed else status.HTTP_201_CREATED
    response.headers["Location"] = location


Q = Annotated[str, Query(max_length=200, description="Matches the number, or an invoice's line / an estimate's name")]
Cursor = Annotated[str, Query(max_length=500)]
Size = Annotated[int, Query(ge=0, le=100, description="0 for the default page size")]
ForCustomer = Annotated[str, Query(max_length=36, description="Only this customer's; empty for every customer")]


# --- tax rate and terms (B9) -------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/billing-settings")
async def get_billing_settings(customer_id: Id, session: StaffApiSession, backends: Clients) -> BillingSettings:
    """The tax rate (or tax-free) and terms billing applies to the customer's new invoices (earlier ones keep
    theirs). Read only: they are the customer's settings in identity (`settings.tax_rate_bp`, `tax_free`,
    `invoice_terms_days` of `PUT /api/v1/staff/customers/{customer_id}`), which reach billing by event within moments;
    `configured` is false until they have."""
    await check_customer(backends, session.principal_token, customer_id, in_path=True)
    return BillingSettings.of(await backends.billing.get_billing_settings(session.principal_token, customer_id))


# --- invoices (B3, B9) -------------------------------------------------------------------------------------------


@router.post("/invoices", status_code=status.HTTP_201_CREATED, responses={200: {"description": "A replayed key"}})
async def create_invoice(
    body: NewInvoice,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = "",
) -> InvoiceCreated:
    """Invoice a customer: each line is quantity × unit price rounded half-up to minor units, tax at the customer's
    rate on the subtotal (none when tax-free), due after the customer's terms (or `terms_days`). Idempotency-Key
    is required."""
    key = _key(idempotency_key)
    token = session.principal_token
    await check_customer(backends, token, body.customer_id, contact_id=body.contact_id)
    if body.ticket_id:
        await _check_ticket(backends, token, body.customer_id, body.ticket_id)
    resp = await backends.billing.create_invoice(
        token,
        customer_id=body.customer_id,
        contact_id=body.contact_id,
        ticket_id=body.ticket_id,
        issued_on=body.issued_on.isoformat() if body.issued_on else "",
        currency=body.currency,
        lines=[ln.values() for ln in body.lines],
        idempotency_key=key,
        terms_days=body.terms_days,
        draft=body.draft,
    )
    _created(response, resp.replayed, f"/api/v1/staff/invoices/{resp.invoice.id}")
    return InvoiceCreated(invoice=StaffInvoice.of(resp.invoice), replayed=resp.replayed)


@router.put("/invoices/{invoice_id}")
async def update_invoice(
    invoice_id: Id, body: DraftInvoice, session: StaffApiSession, backends: Clients
) -> InvoiceDetail:
    """Replace a draft invoice's contact, terms and lines (the customer's current tax rate applies). 409 once sent.
    A PUT: repeating it changes nothing more."""
    token = session.principal_token
    current = await backends.billing.get_invoice(token, invoice_id)
    await check_customer(backends, token, current.invoice.customer_id, contact_id=body.contact_id)
    resp = await backends.billing.update_invoice(
        token,
        invoice_id,
        contact_id=body.contact_id,
        lines=[ln.values() for ln in body.lines],
        terms_days=body.terms_days,
    )
    return InvoiceDetail(invoice=StaffInvoice.of(resp.invoice), lines=[Line.of(ln) for ln in resp.lines], payments=[])


@router.post("/invoices/{invoice_id}/send")
async def send_invoice(
    invoice_id: Id, session: StaffApiSession, backends: Clients, idempotency_key: IdempotencyKey = ""
) -> InvoiceChanged:
    """Send a draft: it gets its number, is dated today and due after its terms from today, and appears (payable)
    on the customer's portal. Sending a sent invoice changes nothing (`replayed: true`). Idempotency-Key is
    required; the invoice's state makes the call idempotent."""
    _key(idempotency_key)
    resp = await backends.billing.send_invoice(session.principal_token, invoice_id)
    return InvoiceChanged(invoice=StaffInvoice.of(resp.invoice), replayed=resp.replayed)


@router.post("/invoices/{invoice_id}/void")
async def void_invoice(
    invoice_id: Id, session: StaffApiSession, backends: Clients, idempotency_key: IdempotencyKey = ""
) -> InvoiceChanged:
    """Void a draft or an open invoice that no payment was applied to (409 otherwise: refund the payment instead).
    It leaves the balance and shows as Void to staff and customer. Idempotency-Key is required; voiding a void
    invoice changes nothing (`replayed: true`)."""
    _key(idempotency_key)
    resp = await backends.billing.void_invoice(session.principal_token, invoice_id)
    return InvoiceChanged(invoice=StaffInvoice.of(resp.invoice), replayed=resp.replayed)


@router.get("/invoices")
async def list_invoices(
    session: StaffApiSession,
    backends: Clients,
    customer_id: ForCustomer = "",
    q: Q = "",
    cursor: Cursor = "",
    page_size: Size = 0,
) -> InvoicePage:
    """Invoices, paid and unpaid, newest first."""
    resp = await backends.billing.list_invoices(
        session.principal_token, query=q, page_size=page_size, cursor=cursor, customer_id=customer_id
    )
    return InvoicePage(items=[StaffInvoice.of(i) for i in resp.invoices], next_cursor=resp.page.next_cursor or None)


@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: Id, session: StaffApiSession, backends: Clients) -> InvoiceDetail:
    """One invoice with its lines and the payments applied to it."""
    resp = await backends.billing.get_invoice(session.principal_token, invoice_id)
    return InvoiceDetail(
        invoice=StaffInvoice.of(resp.invoice),
        lines=[Line.of(ln) for ln in resp.lines],
        payments=[
            AppliedPayment(
                payment_id=p.payment_id,
                paid_at=p.paid_at,
                amount=Money.of(p.amount),
                method=p.method,
                refunded=Money.of(p.refunded),
            )
            for p in resp.payments
        ],
    )


# --- estimates (B8) ---------------------------------------------------------------------------------------------


@router.post("/estimates", status_code=status.HTTP_201_CREATED, responses={200: {"description": "A replayed key"}})
async def create_estimate(
    body: NewEstimate,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = "",
) -> EstimateCreated:
    """Make an estimate: sent at once (dated today, open on the customer's portal, where it can be approved or
    declined once), or with `draft: true` kept for staff until `POST /estimates/{id}/send`. No email is sent.
    Idempotency-Key is required."""
    key = _key(idempotency_key)
    token = session.principal_token
    await check_customer(backends, token, body.customer_id, contact_id=body.contact_id)
    resp = await backends.billing.create_estimate(
        token,
        customer_id=body.customer_id,
        contact_id=body.contact_id,
        name=body.name,
        currency=body.currency,
        lines=[ln.values() for ln in body.lines],
        idempotency_key=key,
        draft=body.draft,
    )
    _created(response, resp.replayed, f"/api/v1/staff/estimates/{resp.estimate.id}")
    return EstimateCreated(estimate=StaffEstimate.of(resp.estimate), replayed=resp.replayed)


@router.post("/estimates/{estimate_id}/send")
async def send_estimate(
    estimate_id: Id, session: StaffApiSession, backends: Clients, idempotency_key: IdempotencyKey = ""
) -> EstimateSent:
    """Send a draft estimate: dated today and open on the customer's portal. Sending a sent one changes nothing
    (`replayed: true`). Idempotency-Key is required."""
    _key(idempotency_key)
    resp = await backends.billing.send_estimate(session.principal_token, estimate_id)
    return EstimateSent(estimate=StaffEstimate.of(resp.estimate), replayed=resp.replayed)


@router.get("/estimates")
async def list_estimates(
    session: StaffApiSession,
    backends: Clients,
    customer_id: ForCustomer = "",
    q: Q = "",
    status_filter: Annotated[str, Query(alias="status", pattern="^(|draft|open|approved|declined)$")] = "",
    cursor: Cursor = "",
    page_size: Size = 0,
) -> EstimatePage:
    """Estimates newest first, optionally of one customer and one status."""
    resp = await backends.billing.list_estimates(
        session.principal_token,
        query=q,
        status=status_filter,
        page_size=page_size,
        cursor=cursor,
        customer_id=customer_id,
    )
    return EstimatePage(items=[StaffEstimate.of(e) for e in resp.estimates], next_cursor=resp.page.next_cursor or None)


@router.get("/estimates/{estimate_id}")
async def get_estimate(estimate_id: Id, session: StaffApiSession, backends: Clients) -> EstimateDetail:
    """One estimate with its lines, and who decided it and when."""
    resp = await backends.billing.get_estimate(session.principal_token, estimate_id)
    return EstimateDetail(estimate=StaffEstimate.of(resp.estimate), lines=[Line.of(ln) for ln in resp.lines])


# --- store credit (B10) ------------------------------------------------------------------------------------------


@router.post(
    "/customers/{customer_id}/store-credit",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A replayed key"}},
)
async def add_store_credit(
    customer_id: Id,
    body: NewStoreCredit,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = "",
) -> CreditAdded:
    """Add store credit with a reference and a message; the customer spends it on invoices. Idempotency-Key is
    required."""
    key = _key(idempotency_key)
    token = session.principal_token
    await check_customer(backends, token, customer_id, in_path=True)
    resp = await backends.billing.add_store_credit(
        token,
        customer_id=customer_id,
        amount_minor=body.amount_minor,
        currency=body.currency,
        reference=body.reference,
        message=body.message,
        idempotency_key=key,
    )
    response.status_code = status.HTTP_200_OK if resp.replayed else status.HTTP_201_CREATED
    return CreditAdded(entry_id=resp.entry_id, credit_balance=Money.of(resp.credit_balance), replayed=resp.replayed)


@router.get("/customers/{customer_id}/store-credit")
async def list_store_credit(
    customer_id: Id, session: StaffApiSession, backends: Clients, cursor: Cursor = "", page_size: Size = 0
) -> Ledger:
    """The customer's store credit ledger, newest first (credit added, overpayments kept, credit spent), and its
    balance."""
    token = session.principal_token
    await check_customer(backends, token, customer_id, in_path=True)
    resp = await backends.billing.credit_entries(token, customer_id, page_size=page_size, cursor=cursor)
    return Ledger(
        items=[LedgerEntry.of(e) for e in resp.entries],
        credit_balance=Money.of(resp.credit_balance),
        next_cursor=resp.page.next_cursor or None,
    )


# --- payments: a customer's, manual, refunds (B5, B7) ---------------------------------------------------------


@router.get("/customers/{customer_id}/payments")
async def list_customer_payments(
    customer_id: Id, session: StaffApiSession, backends: Clients, cursor: Cursor = "", page_size: Size = 0
) -> PaymentPage:
    """The customer's payments of every status, newest first, with what was credited and refunded, and whether
    (and how much) can still be refunded."""
    token = session.principal_token
    await check_customer(backends, token, customer_id, in_path=True)
    resp = await backends.billing.customer_payments(token, customer_id, page_size=page_size, cursor=cursor)
    return PaymentPage(items=[StaffPayment.of(p) for p in resp.payments], next_cursor=resp.page.next_cursor or None)


@router.post(
    "/customers/{customer_id}/payments",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A replayed key"}},
)
async def record_manual_payment(
    customer_id: Id,
    body: NewManualPayment,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = "",
) -> ManualPaymentRecorded:
    """Record cash, a check or a bank transfer received outside the portal: applied at once to the `allocations`, or
    without them spread over the open invoices oldest first, under the portal's balance rules (an overpayment is
    refused unless BILLING_OVERPAYMENT=store_credit; what a payment in progress holds cannot be paid twice). No
    processor is called, so it cannot be refunded through the portal. Idempotency-Key is required."""
    key = _key(idempotency_key)
    token = session.principal_token
    await check_customer(backends, token, customer_id, in_path=True)
    resp = await backends.billing.record_payment(
        token,
        customer_id=customer_id,
        method=body.method,
        reference=body.reference,
        amount_minor=body.amount_minor,
        currency=body.currency,
        allocations=[(a.invoice_id, a.amount_minor) for a in body.allocations],
        idempotency_key=key,
    )
    response.status_code = status.HTTP_200_OK if resp.replayed else status.HTTP_201_CREATED
    return ManualPaymentRecorded(payment=StaffPayment.of(resp.payment), replayed=resp.replayed)


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A replayed key"}},
)
async def refund_payment(
    payment_id: Id,
    body: NewRefund,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = "",
) -> RefundMade:
    """Refund part or all of a card or bank payment at the processor, never more than what is left of it (400
    naming the most). The invoices it paid stay paid (a refund does not reopen them); the payment shows what was
    refunded, to staff and to the customer. A cash, check, transfer or store credit payment cannot be refunded here
    (409). A 503 leaves the refund pending: retry with the same Idempotency-Key (required); the processor refunds
    once per key."""
    key = _key(idempotency_key)
    token = session.principal_token
    resp = await backends.billing.refund_payment(
        token, payment_id, amount_minor=body.amount_minor, currency="", reason=body.reason, idempotency_key=key
    )
    response.status_code = status.HTTP_200_OK if resp.replayed else status.HTTP_201_CREATED
    return RefundMade(refund=StaffRefund.of(resp.refund), payment=StaffPayment.of(resp.payment), replayed=resp.replayed)
