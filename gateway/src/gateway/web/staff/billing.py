"""Staff console billing pages (issue 11, SPEC S2, B3–B10): a customer's billing tab (balance, credit, invoices,
payments, estimates, credit ledger), invoices (new as draft or sent, edit while draft, send, void after a
confirmation), estimates (new as draft or sent, send), a manual payment, a refund after a confirmation, and store
credit. No JavaScript; every form carries the CSRF token and, where it creates something, an idempotency key made
when the form renders, so a double submit does its work once. The same actions are in the staff JSON API
(api/staff/billing.py); billing enforces the rules and that the caller is staff."""

from __future__ import annotations

import asyncio
from datetime import date
from urllib.parse import urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.clients import Backends
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import Session
from gateway.web.billing import parse_amount
from gateway.web.deps import STAFF_COOKIE, StaffPage
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.i18n import Translator
from gateway.web.views.billing import money
from servicekit.card_brands import method_label

router = APIRouter(prefix="/staff", include_in_schema=False)

PAGE_SIZE = 20
FORM_LINES = 5
METHODS = ("cash", "check", "bank_transfer")
# Errors billing answers for a request it refuses; shown on the form, not as an error page.
_FORM_ERRORS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
_NOTICES = ("created", "saved", "sent", "voided", "paid", "refunded", "credited", "refund_failed")


def _backends(request: Request) -> Backends:
    return request.app.state.backends


def _t(request: Request) -> Translator:
    return request.app.state.pages.translator(request)


def _render(request: Request, template: str, session: Session, status_code: int = 200, **context: object) -> Response:
    done = request.query_params.get("done", "")
    context.setdefault("notice", _t(request)(f"staff.billing.notice.{done}") if done in _NOTICES else "")
    context.setdefault("error", "")
    return request.app.state.pages.render(request, template, context, session=session, status_code=status_code)


async def _form(request: Request):  # noqa: ANN202
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    return form


def _form_key(form) -> str:  # noqa: ANN001
    key = field(form, "idempotency_key")
    return key if IDEMPOTENCY_KEY.match(key) else new_key()


def _refused(err: grpc.aio.AioRpcError) -> str:
    """What billing said, for the form; anything else is the edge's error page."""
    if err.code() not in _FORM_ERRORS:
        raise err
    detail = err.details() or ""
    detail = detail.split(": ", 1)[-1] if ": " in detail else detail
    return detail[:1].upper() + detail[1:]


def _back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'done': done})}", status_code=303)


async def _customer_name(backends: Backends, token: str, customer_id: str) -> str:
    record = await backends.identity.get_customer_record(token, customer_id)
    return record.customer.display_name or customer_id


def invoice_row(t: Translator, inv) -> dict:  # noqa: ANN001 - billing_pb2.Invoice
    return {
        "id": inv.id,
        "number": inv.number or t("staff.billing.draft_number"),
        "status": inv.status,
        "status_label": t.label("staff.billing.status", inv.status),
        "issued": t.date(inv.issued_on),
        "due": t.date(inv.due_on) if inv.status != "draft" else "",
        "summary": inv.items_summary,
        "total": money(t, inv.total),
        "balance": money(t, inv.balance_due),
    }


def payment_row(t: Translator, p, customer_id: str) -> dict:  # noqa: ANN001 - billing_pb2.Payment
    return {
        "id": p.id,
        "date": t.date(p.created_at[:10]),
        "amount": money(t, p.amount),
        "status": t.label("staff.billing.payment", p.status),
        "method": method_label(p.method),
        "invoices": ", ".join(n for n in p.invoice_numbers if n),
        "refunded": t("staff.billing.refunded", amount=money(t, p.refunded)) if p.refunded.amount_minor else "",
        "refund_href": f"/staff/customers/{customer_id}/payments/{p.id}/refund" if p.refundable else "",
    }


# --- the customer's billing tab -------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/billing")
async def customer_billing(request: Request, customer_id: str, session: StaffPage) -> Response:
    backends, token, t = _backends(request), session.principal_token, _t(request)
    cursors = {k: request.query_params.get(k, "")[:500] for k in ("invoices", "payments", "estimates", "credit")}
    name, overview, invoices, payments, estimates, ledger = await asyncio.gather(
        _customer_name(backends, token, customer_id),
        backends.billing.overview(token, customer_id),
        backends.billing.list_invoices(token, customer_id=customer_id, page_size=PAGE_SIZE, cursor=cursors["invoices"]),
        backends.billing.customer_payments(token, customer_id, page_size=PAGE_SIZE, cursor=cursors["payments"]),
        backends.billing.list_estimates(
            token, customer_id=customer_id, page_size=PAGE_SIZE, cursor=cursors["estimates"]
        ),
        backends.billing.credit_entries(token, customer_id, page_size=PAGE_SIZE, cursor=cursors["credit"]),
    )

    def more(kind: str, cursor: str) -> str:
        return f"?{urlencode({kind: cursor})}" if cursor else ""

    return _render(
        request,
        "staff/billing/customer.html",
        session,
        customer_id=customer_id,
        name=name,
        balance=money(t, overview.invoice_balance),
        open_count=overview.open_invoices,
        credit=money(t, overview.credit_balance),
        invoices=[invoice_row(t, i) for i in invoices.invoices],
        invoices_more=more("invoices", invoices.page.next_cursor),
        payments=[payment_row(t, p, customer_id) for p in payments.payments],
        payments_more=more("payments", payments.page.next_cursor),
        estimates=[
            {
                "id": e.id,
                "number": e.number,
                "name": e.name,
                "status": e.status,
                "status_label": t.label("staff.billing.estimate", e.status),
                "sent": t.date(e.sent_on) if e.status != "draft" else "",
                "total": money(t, e.total),
                "decided": t(
                    "staff.billing.decided", who=e.decided_by_name or e.decided_by, when=t.date(e.decided_at[:10])
                )
                if e.decided_at
                else "",
                "reason": e.decision_reason,
            }
            for e in estimates.estimates
        ],
        estimates_more=more("estimates", estimates.page.next_cursor),
        ledger=[
            {
                "date": t.date(e.created_at[:10]),
                "amount": money(t, e.amount),
                "reference": e.reference,
                "message": e.message,
            }
            for e in ledger.entries
        ],
        ledger_more=more("credit", ledger.page.next_cursor),
    )


# --- invoices and estimates: new, edit while draft ---------------------------------------------------------------


def _lines_from(form) -> tuple[list[dict], str]:  # noqa: ANN001
    """The filled lines of the form and an error ("" when fine)."""
    lines = []
    for i in range(FORM_LINES):
        description = field(form, f"description_{i}").strip()
        price_text = field(form, f"price_{i}").strip()
        quantity = field(form, f"quantity_{i}").strip() or "1"
        if not description and not price_text:
            continue
        price = parse_amount(price_text)
        if not description or price is None:
            return [], "lines"
        lines.append({"description": description[:500], "quantity": quantity, "unit_price_minor": price})
    return lines, "" if lines else "lines"


def _form_lines(form=None, current=None) -> list[dict]:  # noqa: ANN001
    rows = []
    for i in range(FORM_LINES):
        if form is not None:
            rows.append(
                {
                    "description": field(form, f"description_{i}"),
                    "quantity": field(form, f"quantity_{i}"),
                    "price": field(form, f"price_{i}"),
                }
            )
        elif current is not None and i < len(current):
            ln = current[i]
            major, minor = divmod(ln.unit_price.amount_minor, 100)
            rows.append({"description": ln.description, "quantity": ln.quantity, "price": f"{major}.{minor:02d}"})
        else:
            rows.append({"description": "", "quantity": "", "price": ""})
    return rows


@router.get("/customers/{customer_id}/invoices/new")
async def new_invoice_form(request: Request, customer_id: str, session: StaffPage) -> Response:
    return await _new_document_form(request, session, customer_id, "invoice")


@router.get("/customers/{customer_id}/estimates/new")
async def new_estimate_form(request: Request, customer_id: str, session: StaffPage) -> Response:
    return await _new_document_form(request, session, customer_id, "estimate")


async def _new_document_form(request: Request, session: Session, customer_id: str, kind: str) -> Response:
    """An empty invoice or estimate form (one template for both), with a fresh idempotency key."""
    name = await _customer_name(_backends(request), session.principal_token, customer_id)
    return _render(
        request,
        "staff/billing/document_form.html",
        session,
        kind=kind,
        customer_id=customer_id,
        name=name,
        action=f"/staff/customers/{customer_id}/{kind}s/new",
        lines=_form_lines(),
        terms="",
        doc_name="",
        idempotency_key=new_key(),
        editing=False,
    )


def _terms(form) -> tuple[int | None, bool]:  # noqa: ANN001
    text = field(form, "terms_days").strip()
    if not text:
        return None, True
    if not text.isdigit() or int(text) > 365:
        return None, False
    return int(text), True


async def _document_submit(request: Request, customer_id: str, session: StaffPage, kind: str) -> Response:
    form = await _form(request)
    backends, token, t = _backends(request), session.principal_token, _t(request)
    key = _form_key(form)
    lines, bad = _lines_from(form)
    terms, terms_ok = _terms(form)
    draft = field(form, "send") != "1"
    error = ""
    if bad:
        error = t("staff.billing.error.lines")
    elif not terms_ok:
        error = t("staff.billing.error.terms")
    elif kind == "estimate" and not field(form, "name").strip():
        error = t("staff.billing.error.name")
    if not error:
        try:
            if kind == "invoice":
                resp = await backends.billing.create_invoice(
                    token,
                    customer_id=customer_id,
                    contact_id="",
                    ticket_id="",
                    issued_on="",
                    currency="USD",
                    lines=lines,
                    idempotency_key=key,
                    terms_days=terms,
                    draft=draft,
                )
                return _back(f"/staff/invoices/{resp.invoice.id}", "created")
            resp = await backends.billing.create_estimate(
                token,
                customer_id=customer_id,
                contact_id="",
                name=field(form, "name").strip()[:200],
                currency="USD",
                lines=lines,
                idempotency_key=key,
                draft=draft,
            )
            return _back(f"/staff/customers/{customer_id}/billing", "created")
        except grpc.aio.AioRpcError as err:
            error = _refused(err)
    name = await _customer_name(backends, token, customer_id)
    return _render(
        request,
        "staff/billing/document_form.html",
        session,
        status_code=400,
        kind=kind,
        customer_id=customer_id,
        name=name,
        action=f"/staff/customers/{customer_id}/{kind}s/new",
        lines=_form_lines(form),
        terms=field(form, "terms_days"),
        doc_name=field(form, "name"),
        idempotency_key=key,
        editing=False,
        error=error,
    )


@router.post("/customers/{customer_id}/invoices/new")
async def new_invoice_submit(request: Request, customer_id: str, session: StaffPage) -> Response:
    return await _document_submit(request, customer_id, session, "invoice")


@router.post("/customers/{customer_id}/estimates/new")
async def new_estimate_submit(request: Request, customer_id: str, session: StaffPage) -> Response:
    return await _document_submit(request, customer_id, session, "estimate")


@router.get("/invoices/{invoice_id}")
async def invoice_page(request: Request, invoice_id: str, session: StaffPage) -> Response:
    backends, token, t = _backends(request), session.principal_token, _t(request)
    resp = await backends.billing.get_invoice(token, invoice_id)
    inv = resp.invoice
    name = await _customer_name(backends, token, inv.customer_id)
    return _render(
        request,
        "staff/billing/invoice.html",
        session,
        inv=invoice_row(t, inv),
        customer_id=inv.customer_id,
        name=name,
        subtotal=money(t, inv.subtotal),
        tax=money(t, inv.tax),
        lines=[
            {
                "description": ln.description,
                "quantity": ln.quantity,
                "price": money(t, ln.unit_price),
                "amount": money(t, ln.amount),
            }
            for ln in resp.lines
        ],
        payments=[
            {
                "date": t.date(p.paid_at[:10]),
                "amount": money(t, p.amount),
                "method": method_label(p.method),
                "refunded": t("staff.billing.refunded", amount=money(t, p.refunded)) if p.refunded.amount_minor else "",
            }
            for p in resp.payments
        ],
        can_void=inv.status in ("draft", "open") and not resp.payments,
        edit_lines=_form_lines(current=resp.lines) if inv.status == "draft" else [],
        terms=_days_between(inv.issued_on, inv.due_on),
    )


def _days_between(start: str, end: str) -> str:
    try:
        return str((date.fromisoformat(end) - date.fromisoformat(start)).days)
    except ValueError:
        return ""


@router.post("/invoices/{invoice_id}/edit")
async def edit_invoice_submit(request: Request, invoice_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    backends, token, t = _backends(request), session.principal_token, _t(request)
    lines, bad = _lines_from(form)
    terms, terms_ok = _terms(form)
    if bad or not terms_ok:
        return _render_error(request, session, t("staff.billing.error.lines" if bad else "staff.billing.error.terms"))
    try:
        await backends.billing.update_invoice(token, invoice_id, contact_id="", lines=lines, terms_days=terms)
    except grpc.aio.AioRpcError as err:
        return _render_error(request, session, _refused(err))
    return _back(f"/staff/invoices/{invoice_id}", "saved")


def _render_error(request: Request, session: Session, message: str) -> Response:
    return _render(request, "staff/billing/refused.html", session, status_code=400, error=message)


@router.post("/invoices/{invoice_id}/send")
async def send_invoice_submit(request: Request, invoice_id: str, session: StaffPage) -> Response:
    await _form(request)
    try:
        await _backends(request).billing.send_invoice(session.principal_token, invoice_id)
    except grpc.aio.AioRpcError as err:
        return _render_error(request, session, _refused(err))
    return _back(f"/staff/invoices/{invoice_id}", "sent")


@router.get("/invoices/{invoice_id}/void")
async def void_invoice_confirm(request: Request, invoice_id: str, session: StaffPage) -> Response:
    t = _t(request)
    inv = (await _backends(request).billing.get_invoice(session.principal_token, invoice_id)).invoice
    row = invoice_row(t, inv)
    return _render(
        request,
        "staff/billing/confirm.html",
        session,
        heading=t("staff.billing.void.heading", number=row["number"]),
        message=t("staff.billing.void.confirm", number=row["number"], total=row["total"]),
        action=f"/staff/invoices/{invoice_id}/void",
        yes=t("staff.billing.void.yes"),
        back=f"/staff/invoices/{invoice_id}",
        amount_field=None,
        idempotency_key=new_key(),
    )


@router.post("/invoices/{invoice_id}/void")
async def void_invoice_submit(request: Request, invoice_id: str, session: StaffPage) -> Response:
    await _form(request)
    try:
        await _backends(request).billing.void_invoice(session.principal_token, invoice_id)
    except grpc.aio.AioRpcError as err:
        return _render_error(request, session, _refused(err))
    return _back(f"/staff/invoices/{invoice_id}", "voided")


@router.post("/estimates/{estimate_id}/send")
async def send_estimate_submit(request: Request, estimate_id: str, session: StaffPage) -> Response:
    await _form(request)
    try:
        resp = await _backends(request).billing.send_estimate(session.principal_token, estimate_id)
    except grpc.aio.AioRpcError as err:
        return _render_error(request, session, _refused(err))
    return _back(f"/staff/customers/{resp.estimate.customer_id}/billing", "sent")


# --- payments: manual, refund -------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/payments/new")
async def manual_payment_form(request: Request, customer_id: str, session: StaffPage) -> Response:
    name = await _customer_name(_backends(request), session.principal_token, customer_id)
    return _render(
        request,
        "staff/billing/payment_form.html",
        session,
        customer_id=customer_id,
        name=name,
        method="check",
        methods=METHODS,
        reference="",
        amount="",
        idempotency_key=new_key(),
    )


@router.post("/customers/{customer_id}/payments/new")
async def manual_payment_submit(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    backends, token, t = _backends(request), session.principal_token, _t(request)
    key = _form_key(form)
    method = field(form, "method")
    amount = parse_amount(field(form, "amount"))
    error = ""
    if method not in METHODS:
        error = t("staff.billing.error.method")
    elif not amount:
        error = t("staff.billing.error.amount")
    else:
        try:
            await backends.billing.record_payment(
                token,
                customer_id=customer_id,
                method=method,
                reference=field(form, "reference")[:40],
                amount_minor=amount,
                currency="USD",
                allocations=[],
                idempotency_key=key,
            )
            return _back(f"/staff/customers/{customer_id}/billing", "paid")
        except grpc.aio.AioRpcError as err:
            error = _refused(err)
    name = await _customer_name(backends, token, customer_id)
    return _render(
        request,
        "staff/billing/payment_form.html",
        session,
        status_code=400,
        customer_id=customer_id,
        name=name,
        method=method,
        methods=METHODS,
        reference=field(form, "reference"),
        amount=field(form, "amount"),
        idempotency_key=key,
        error=error,
    )


async def _find_payment(backends: Backends, token: str, customer_id: str, payment_id: str):  # noqa: ANN202
    cursor = ""
    for _ in range(20):
        page = await backends.billing.customer_payments(token, customer_id, page_size=100, cursor=cursor)
        for p in page.payments:
            if p.id == payment_id:
                return p
        cursor = page.page.next_cursor
        if not cursor:
            break
    return None


@router.get("/customers/{customer_id}/payments/{payment_id}/refund")
async def refund_confirm(request: Request, customer_id: str, payment_id: str, session: StaffPage) -> Response:
    backends, token, t = _backends(request), session.principal_token, _t(request)
    payment = await _find_payment(backends, token, customer_id, payment_id)
    if payment is None or not payment.refundable:
        return _render_error(request, session, t("staff.billing.error.not_refundable"))
    return _refund_page(request, session, t, customer_id, payment, amount="", key=new_key())


def _refund_page(request, session, t, customer_id, payment, *, amount: str, key: str, error: str = "", status_code=200):  # noqa: ANN001, ANN202, PLR0913
    left = payment.refundable_amount
    major, minor = divmod(left.amount_minor, 100)
    return _render(
        request,
        "staff/billing/confirm.html",
        session,
        status_code=status_code,
        heading=t("staff.billing.refund.heading"),
        message=t(
            "staff.billing.refund.confirm",
            amount=money(t, payment.amount),
            method=payment.method,
            date=t.date(payment.created_at[:10]),
            left=money(t, left),
        ),
        action=f"/staff/customers/{customer_id}/payments/{payment.id}/refund",
        yes=t("staff.billing.refund.yes"),
        back=f"/staff/customers/{customer_id}/billing",
        amount_field={"value": amount or f"{major}.{minor:02d}"},
        idempotency_key=key,
        error=error,
    )


@router.post("/customers/{customer_id}/payments/{payment_id}/refund")
async def refund_submit(request: Request, customer_id: str, payment_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    backends, token, t = _backends(request), session.principal_token, _t(request)
    key = _form_key(form)
    amount = parse_amount(field(form, "amount"))
    error = ""
    if not amount:
        error = t("staff.billing.error.amount")
    else:
        try:
            resp = await backends.billing.refund_payment(
                token,
                payment_id,
                amount_minor=amount,
                currency="",
                reason=field(form, "reason")[:500],
                idempotency_key=key,
            )
            done = "refunded" if resp.refund.status == "succeeded" else "refund_failed"
            return _back(f"/staff/customers/{customer_id}/billing", done)
        except grpc.aio.AioRpcError as err:
            error = _refused(err)
    payment = await _find_payment(backends, token, customer_id, payment_id)
    if payment is None:
        return _render_error(request, session, error)
    return _refund_page(
        request, session, t, customer_id, payment, amount=field(form, "amount"), key=key, error=error, status_code=400
    )


# --- store credit -------------------------------------------------------------------------------------------------


@router.get("/customers/{customer_id}/store-credit/new")
async def credit_form(request: Request, customer_id: str, session: StaffPage) -> Response:
    name = await _customer_name(_backends(request), session.principal_token, customer_id)
    return _render(
        request,
        "staff/billing/credit_form.html",
        session,
        customer_id=customer_id,
        name=name,
        amount="",
        reference="",
        message="",
        idempotency_key=new_key(),
    )


@router.post("/customers/{customer_id}/store-credit/new")
async def credit_submit(request: Request, customer_id: str, session: StaffPage) -> Response:
    form = await _form(request)
    backends, token, t = _backends(request), session.principal_token, _t(request)
    key = _form_key(form)
    amount = parse_amount(field(form, "amount"))
    reference = field(form, "reference").strip()
    error = ""
    if not amount:
        error = t("staff.billing.error.amount")
    elif not reference:
        error = t("staff.billing.error.reference")
    else:
        try:
            await backends.billing.add_store_credit(
                token,
                customer_id=customer_id,
                amount_minor=amount,
                currency="USD",
                reference=reference[:100],
                message=field(form, "message").strip()[:2000],
                idempotency_key=key,
            )
            return _back(f"/staff/customers/{customer_id}/billing", "credited")
        except grpc.aio.AioRpcError as err:
            error = _refused(err)
    name = await _customer_name(backends, token, customer_id)
    return _render(
        request,
        "staff/billing/credit_form.html",
        session,
        status_code=400,
        customer_id=customer_id,
        name=name,
        amount=field(form, "amount"),
        reference=reference,
        message=field(form, "message"),
        idempotency_key=key,
        error=error,
    )
