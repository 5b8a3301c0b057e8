"""The billing JSON API under /api/v1: invoices, payments (Idempotency-Key required), payment profiles,
estimates and the account overview. Errors are problem+json, mapped from billing's status codes in one place.

Responses are billing's messages as JSON (field names as in portal/billing/v1/billing.proto; money as
{"amount_minor", "currency"}).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, Field

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import problems
from gateway.areas.billing import Method, pay
from gateway.areas.billing import invoice_pdf as areas_invoice_pdf
from gateway.edge.downloads import pdf_response
from gateway.edge.errors import problem_from_status
from gateway.edge.idempotency import IDEMPOTENCY_KEY
from servicekit.money import MAX_MINOR

router = APIRouter(prefix="/api/v1", tags=["billing"], responses=problems(400, 401, 403, 503))
PDF = {**problems(404), 200: {"content": {"application/pdf": {}}, "description": "The PDF"}}
# The card processor's webhooks: public (no session, no CSRF: nothing a browser sends), outside /api/v1 because
# they are not our API but the processor's calls to us. Billing checks the processor's signature.
webhooks = APIRouter(tags=["billing"])


def _json(message, status_code: int = 200) -> JSONResponse:  # noqa: ANN001 - any protobuf message
    body = MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return JSONResponse(_ints(body), status_code=status_code)


def _ints(value: Any) -> Any:
    """protobuf's JSON writes int64 as strings; amounts are numbers here."""
    if isinstance(value, dict):
        return {k: (int(v) if k == "amount_minor" and isinstance(v, str) else _ints(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


Q = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str, Query(max_length=500)]
Size = Annotated[int, Query(ge=0, le=100)]


@router.get("/billing/overview")
async def overview(session: CurrentSession, backends: Clients) -> JSONResponse:
    return _json(await backends.billing.overview(session.principal_token))


@router.get("/invoices")
async def list_invoices(
    session: CurrentSession, backends: Clients, q: Q = "", cursor: Cursor = "", page_size: Size = 0, open: bool = False
) -> JSONResponse:  # noqa: A002
    if open:
        return _json(await backends.billing.open_invoices(session.principal_token, page_size=page_size, cursor=cursor))
    return _json(
        await backends.billing.list_invoices(session.principal_token, query=q, page_size=page_size, cursor=cursor)
    )


@router.get("/invoices/{invoice_id}", responses=problems(404))
async def get_invoice(invoice_id: str, session: CurrentSession, backends: Clients) -> JSONResponse:
    return _json(await backends.billing.get_invoice(session.principal_token, invoice_id))


@router.get("/invoices/{invoice_id}/pdf", response_class=Response, responses=PDF)
async def invoice_pdf(
    invoice_id: str,
    session: CurrentSession,
    backends: Clients,
    language: Annotated[Literal["en", "fr"], Query(description="the language of the PDF's labels")] = "en",
) -> Response:
    """The invoice as a PDF: the provider, the bill-to customer, its status (Partly paid, Overdue), lines and totals."""
    resp = await areas_invoice_pdf(
        backends.billing, backends.identity, session.principal_token, invoice_id, language=language
    )
    return pdf_response(resp.pdf)


class AllocationBody(BaseModel):
    invoice_id: str = Field(max_length=64)
    amount_minor: int = Field(gt=0, le=MAX_MINOR, description="Integer minor units")


class PaymentBody(BaseModel):
    allocations: list[AllocationBody] = Field(min_length=1, max_length=100)
    payment_profile_id: str = Field("", max_length=64)
    processor_token: str = Field("", max_length=100)
    use_store_credit: bool = Field(False, description="pay from store credit instead of a card")
    language: Literal["en", "fr"] = Field("en", description="the language of the receipt email")


@router.get("/payments/proposal")
async def propose(
    session: CurrentSession, backends: Clients, amount_minor: Annotated[int, Query(ge=0, le=MAX_MINOR)] = 0
) -> JSONResponse:
    return _json(await backends.billing.propose(session.principal_token, amount_minor))


@router.post("/payments", status_code=status.HTTP_201_CREATED, responses=problems(404, 409, 429))
async def make_payment(
    body: PaymentBody,
    session: CurrentSession,
    backends: Clients,
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key")] = "",
) -> JSONResponse:
    """Pay one or several invoices. Resending with the same Idempotency-Key returns the same payment (200)."""
    if not IDEMPOTENCY_KEY.match(idempotency_key):
        return problem_from_status(400, "send an Idempotency-Key header of 16-64 letters, digits, - or _").response()
    allocations = [(a.invoice_id, a.amount_minor) for a in body.allocations]
    method = Method(
        store_credit=body.use_store_credit, profile_id=body.payment_profile_id, processor_token=body.processor_token
    )
    resp = await pay(
        backends.billing,
        session.principal_token,
        idempotency_key=idempotency_key,
        allocations=allocations,
        method=method,
        language=body.language,
    )
    return _json(resp, status_code=200 if resp.replayed else 201)


@router.get("/payments")
async def list_payments(
    session: CurrentSession, backends: Clients, q: Q = "", cursor: Cursor = "", page_size: Size = 0
) -> JSONResponse:
    return _json(
        await backends.billing.list_payments(session.principal_token, query=q, page_size=page_size, cursor=cursor)
    )


@router.get("/payments/pending", summary="Payments still waiting for the processor's answer")
async def pending_payments(session: CurrentSession, backends: Clients) -> JSONResponse:
    """The caller's payments a crash or a timeout left at the processor, newest first. They hold the amounts they
    pay: pay what they leave, or check them, rather than paying again."""
    return _json(await backends.billing.pending_payments(session.principal_token))


@router.post(
    "/payments/{payment_id}/check", summary="Ask the processor now about a pending payment", responses=problems(404)
)
async def check_payment(payment_id: str, session: CurrentSession, backends: Clients) -> JSONResponse:
    """Recorded (`succeeded` or `failed`) if the processor charged it, `voided` if it never did and the reconciler's
    bound has passed (nothing was charged), else still `pending`. Safe to repeat."""
    return _json(await backends.billing.check_payment(session.principal_token, payment_id))


@router.get("/payment-profiles")
async def list_profiles(session: CurrentSession, backends: Clients) -> JSONResponse:
    return _json(await backends.billing.profiles(session.principal_token))


class ProfileBody(BaseModel):
    processor_token: str = Field(min_length=1, max_length=100)
    nickname: str = Field("", max_length=60)


@router.post("/payment-profiles", status_code=status.HTTP_201_CREATED, responses=problems(409))
async def add_profile(body: ProfileBody, session: CurrentSession, backends: Clients) -> JSONResponse:
    resp = await backends.billing.add_profile(session.principal_token, body.processor_token, body.nickname)
    return _json(resp, status_code=201)


class ProfilePatch(BaseModel):
    nickname: str | None = Field(None, max_length=60)
    reminder_on: str | None = Field(None, max_length=10, description="YYYY-MM-DD; can be set once")


@router.patch("/payment-profiles/{profile_id}", responses=problems(404, 409))
async def update_profile(
    profile_id: str, body: ProfilePatch, session: CurrentSession, backends: Clients
) -> JSONResponse:
    resp = await backends.billing.update_profile(
        session.principal_token, profile_id, nickname=body.nickname, reminder_on=body.reminder_on
    )
    return _json(resp)


@router.delete("/payment-profiles/{profile_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def delete_profile(profile_id: str, session: CurrentSession, backends: Clients) -> Response:
    await backends.billing.delete_profile(session.principal_token, profile_id)
    return Response(status_code=204)


@router.get("/estimates")
async def list_estimates(
    session: CurrentSession,
    backends: Clients,
    q: Q = "",
    status_filter: Annotated[str, Query(alias="status", pattern="^(|open|approved|declined)$")] = "",
    cursor: Cursor = "",
    page_size: Size = 0,
) -> JSONResponse:
    return _json(
        await backends.billing.list_estimates(
            session.principal_token, query=q, status=status_filter, page_size=page_size, cursor=cursor
        )
    )


@router.get("/estimates/{estimate_id}", responses=problems(404))
async def get_estimate(estimate_id: str, session: CurrentSession, backends: Clients) -> JSONResponse:
    return _json(await backends.billing.get_estimate(session.principal_token, estimate_id))


@router.get("/estimates/{estimate_id}/pdf", response_class=Response, responses=PDF)
async def estimate_pdf(estimate_id: str, session: CurrentSession, backends: Clients) -> Response:
    resp = await backends.billing.estimate_pdf(session.principal_token, estimate_id)
    return pdf_response(resp.pdf)


class DecisionBody(BaseModel):
    decision: str = Field(pattern="^(approve|decline)$")
    reason: str = Field("", max_length=500, description="Optional; kept with the decision and shown to staff")


@router.post("/estimates/{estimate_id}/decision", responses=problems(404, 409))
async def decide(estimate_id: str, body: DecisionBody, session: CurrentSession, backends: Clients) -> JSONResponse:
    """Approve or decline an open estimate; a decided one answers 409."""
    resp = await backends.billing.decide_estimate(
        session.principal_token, estimate_id, approve=body.decision == "approve", reason=body.reason
    )
    return _json(resp)


class ProcessorEventAnswer(BaseModel):
    event_id: str
    # "recorded" (this event finished a pending payment), "already_recorded", "ignored".
    outcome: str


@webhooks.post(
    "/webhooks/stripe",
    summary="Stripe's webhook (payment_intent.succeeded / payment_failed)",
    response_model=ProcessorEventAnswer,
    responses=problems(400, 404),
)
async def stripe_webhook(
    request: Request, backends: Clients, stripe_signature: Annotated[str, Header(max_length=2000)] = ""
) -> ProcessorEventAnswer:
    """The raw body and the `Stripe-Signature` header go to billing untouched (the signature covers the exact
    bytes). A bad or missing signature is a 400 problem+json and nothing is written; a payment the event decides is
    finished once, however often Stripe delivers it. 404 when billing's processor sends no webhooks (the sandbox)."""
    resp = await backends.billing.handle_processor_event(await request.body(), stripe_signature)
    return ProcessorEventAnswer(event_id=resp.event_id, outcome=resp.outcome)
