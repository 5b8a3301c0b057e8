"""Staff JSON API for billing (SPEC S2, B8, B9, B10): the tax rate and invoice terms billing applies to a customer
(read here, set in identity's customer settings), invoices with lines (tax, terms and an optional ticket),
estimates, and store credit.

Staff sign in with `POST /api/v1/staff/sessions` and send that token as the bearer; a portal session gets 403, and
billing itself answers PERMISSION_DENIED to any non-staff principal on these RPCs. Billing does not know which
customers exist (identity owns them), so every write first asks identity for the customer (and the contact), and
the tickets service for a linked ticket: an unknown one is a 400 (in the body) or 404 (in the path), never a record
for nobody. Creations take an `Idempotency-Key` header that billing keeps with the record in one transaction: the
first request answers 201, a repeat with the same key 200 with `replayed: true` and the same record.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import grpc
from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems
from gateway.api.staff.checks import bad_request, check_customer
from gateway.clients import Backends
from gateway.clients.billing import (
    BillingSettingsMessage,
    EstimateMessage,
    InvoiceMessage,
    LineMessage,
    MoneyMessage,
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


class NewEstimate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    contact_id: Annotated[RefId, Field(description="One of the customer's contacts, or empty for the customer")] = ""
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    currency: Currency = "USD"
    lines: Lines


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
    status: str = Field(description="open, paid or void")
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
    status: str = Field(description="open, approved or declined")
    sent_on: str
    total: Money
    decided_at: str | None

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
    )
    _created(response, resp.replayed, f"/api/v1/staff/invoices/{resp.invoice.id}")
    return InvoiceCreated(invoice=StaffInvoice.of(resp.invoice), replayed=resp.replayed)


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
            AppliedPayment(payment_id=p.payment_id, paid_at=p.paid_at, amount=Money.of(p.amount)) for p in resp.payments
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
    """Make and send an estimate: there are no drafts, so it is sent (dated today) and open on the customer's portal,
    where it can be approved or declined once. No email is sent. Idempotency-Key is required."""
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
    )
    _created(response, resp.replayed, f"/api/v1/staff/estimates/{resp.estimate.id}")
    return EstimateCreated(estimate=StaffEstimate.of(resp.estimate), replayed=resp.replayed)


@router.get("/estimates")
async def list_estimates(
    session: StaffApiSession,
    backends: Clients,
    customer_id: ForCustomer = "",
    q: Q = "",
    status_filter: Annotated[str, Query(alias="status", pattern="^(|open|approved|declined)$")] = "",
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
