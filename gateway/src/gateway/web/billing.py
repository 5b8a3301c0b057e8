"""Billing pages (SPEC B1–B8): the billing overview, invoices (view all with search, invoice page, PDF), Make a
Payment (Pay Now / Pay All with per-invoice amounts and an oldest-first proposal), payments (view all with
search), stored payment options (add through the processor, nickname, reminder once, delete with confirmation),
estimates (list with filter and search, page, PDF, Approve / Decline).

Everything works without JavaScript. Card and bank account numbers never come here: the add-card and
add-bank-account (ACH) forms post straight to the payment processor's tokenisation endpoint, which redirects back
with a token only. The billing service decides
what the user may see and do; these pages only decide what to offer.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlencode, urlsplit

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import billing as areas_billing
from gateway.areas.billing import NEW_CARD, STORE_CREDIT
from gateway.clients import Backends
from gateway.clients.billing import BillingClient
from gateway.clients.schemas import Money
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.downloads import pdf_response
from gateway.edge.errors import FORBIDDEN, INVALID, NOT_FOUND, split_field
from gateway.edge.idempotency import IDEMPOTENCY_KEY, new_key
from gateway.edge.sessions import Session
from gateway.web.deps import CsrfRejected, PortalPage
from gateway.web.forms import check_csrf, check_return_state, read_form, return_state
from gateway.web.i18n import Translator
from gateway.web.render import Pages
from gateway.web.views.billing import estimate_row as _estimate_row
from gateway.web.views.billing import invoice_row as _invoice_row
from gateway.web.views.billing import money as _money
from gateway.web.views.billing import payment_row as _payment_row
from gateway.web.views.billing import perms as _perms
from gateway.web.views.billing import shows_billing, summary_context
from servicekit import permissions as perm
from servicekit.card_brands import brand_name
from servicekit.money import MAX_MINOR

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
RECENT_PAYMENTS = 10
QUERY_MAX = 200
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TEMPLATES = (
    "billing/overview.html",
    "billing/invoices.html",
    "billing/invoice.html",
    "billing/pay.html",
    "billing/payments.html",
    "billing/options.html",
    "billing/option_delete.html",
    "billing/estimates.html",
    "billing/estimate.html",
    "billing/estimate_decide.html",
)
_NOTICES = {
    "paid": "billing.notice.paid",
    "added": "billing.notice.added",
    "saved": "billing.notice.saved",
    "deleted": "billing.notice.deleted",
    "approved": "billing.notice.approved",
    "declined": "billing.notice.declined",
    "checked_succeeded": "billing.notice.checked_succeeded",
    "checked_pending": "billing.notice.checked_pending",
    "checked_voided": "billing.notice.checked_voided",
    "checked_failed": "billing.notice.checked_failed",
}
# `?error=` on the pay and payment-options pages is a code looked up here, never text from the query string
# (the processor's own words come back in it; a valid return `state` turns them into "refused").
_ERRORS = {
    "refused": "billing.error.refused",
    "no_token": "billing.error.no_token",
    "setup_failed": "billing.error.setup_failed",
}


def _test_cards(t: Translator, cards) -> list[dict[str, str]]:  # noqa: ANN001 - billing_pb2.TestCard
    """The sandbox processor's test card numbers (none with a real processor), grouped by four for reading."""
    return [
        {
            "number": " ".join(c.number[i : i + 4] for i in range(0, len(c.number), 4)),
            "brand": brand_name(c.brand),
            "outcome": t(f"billing.test_cards.{c.decline_code or 'succeeds'}")
            if c.decline_code in ("", "card_declined", "insufficient_funds")
            else t("billing.test_cards.card_declined"),
        }
        for c in cards
    ]


def _error(request: Request, purpose: str) -> str:
    """The message for `?error=`: a known code's, "refused" for the processor's own text when the return
    `state` is this session's, otherwise nothing."""
    code = request.query_params.get("error", "")
    if code and code not in _ERRORS:
        try:
            check_return_state(request, request.query_params.get("state"), purpose)
        except CsrfRejected:
            return ""
        code = "refused"
    return _t(request)(_ERRORS[code]) if code else ""


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    # Billing's templates join the compiled set on first use, in the same environment as the others.
    templates = pages._templates  # noqa: SLF001
    if _TEMPLATES[0] not in templates:
        env = templates["home/index.html"].environment
        for name in _TEMPLATES:
            templates[name] = env.get_template(name)
    return pages


def _billing(request: Request) -> BillingClient:
    backends: Backends = request.app.state.backends
    return backends.billing


def _t(request: Request) -> Translator:
    return _pages(request).translator(request)


def _notice(request: Request) -> str:
    t, done = _t(request), request.query_params.get("done", "")
    credited, currency = request.query_params.get("credited", ""), request.query_params.get("currency", "")
    if done == "paid" and credited.isdigit() and len(credited) < 16 and int(credited) and _CURRENCY.match(currency):
        return t("billing.notice.paid_credit", amount=t.money(Money(amount_minor=int(credited), currency=currency)))
    notice = _NOTICES.get(done)
    return t(notice) if notice else ""


def _render(request: Request, name: str, session: Session, status_code: int = 200, **context: object) -> Response:
    context.setdefault("notice", _notice(request))
    context.setdefault("error", "")
    return _pages(request).render(
        request, name, {"p": _perms(session), **context}, session=session, status_code=status_code
    )


def _decimal(m) -> str:  # noqa: ANN001
    """An amount as the form field shows it: plain digits, a point, two decimals."""
    major, minor = divmod(m.amount_minor, 100)
    return f"{major}.{minor:02d}"


def parse_amount(text: str) -> int | None:
    """Minor units from what a person types ("12", "12.5", "12,50", "1 234.00"); None when it is not money or
    more than any payment may be (servicekit.money.MAX_MINOR)."""
    cleaned = text.strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not cleaned:
        return 0
    if cleaned.count(".") > 1 or not re.fullmatch(r"\d+(\.\d{0,2})?", cleaned):
        return None
    try:
        minor = int(Decimal(cleaned) * 100)
    except InvalidOperation:
        return None
    return minor if minor <= MAX_MINOR else None


def _forbidden(request: Request, session: Session) -> Response:

    return _pages(request).error(request, FORBIDDEN, session=session)


def _query(request: Request) -> str:
    return request.query_params.get("q", "").strip()[:QUERY_MAX]


# --- overview ---------------------------------------------------------------------------------------


@router.get("/billing")
async def billing_home(request: Request, session: PortalPage) -> Response:
    """Account overview, open invoices, recent payments and estimates, as far as the group allows."""
    if not shows_billing(session):
        return _forbidden(request, session)
    summary = await _billing(request).portal_summary(session.principal_token, rows=RECENT_PAYMENTS)
    return _render(request, "billing/overview.html", session, **summary_context(_t(request), summary, _perms(session)))


@router.post("/billing/payments/{payment_id}/check")
async def check_payment(request: Request, payment_id: str, session: PortalPage) -> Response:
    """ "Check now" on a payment in progress: billing asks the processor and records or voids it if it can."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    checked = await _billing(request).check_payment(session.principal_token, payment_id)
    return RedirectResponse(f"/billing?done=checked_{checked.payment.status}", status_code=303)


# --- invoices ---------------------------------------------------------------------------------------


@router.get("/billing/invoices")
async def invoices_list(request: Request, session: PortalPage) -> Response:
    t, q = _t(request), _query(request)
    resp = await _billing(request).list_invoices(
        session.principal_token, query=q, page_size=PAGE_SIZE, cursor=request.query_params.get("cursor", "")
    )
    more = f"?{urlencode({'q': q, 'cursor': resp.page.next_cursor})}" if resp.page.next_cursor else ""
    return _render(
        request, "billing/invoices.html", session, rows=[_invoice_row(t, i) for i in resp.invoices], q=q, more=more
    )


@router.get("/billing/invoices/{invoice_id}")
async def invoice_page(request: Request, invoice_id: str, session: PortalPage) -> Response:
    t = _t(request)
    resp = await _billing(request).get_invoice(session.principal_token, invoice_id)
    inv = resp.invoice
    return _render(
        request,
        "billing/invoice.html",
        session,
        inv=_invoice_row(t, inv),
        subtotal=_money(t, inv.subtotal),
        tax=_money(t, inv.tax) if inv.tax_rate_bp else "",
        tax_rate=f"{inv.tax_rate_bp / 100:g}",
        lines=[
            {
                "description": ln.description,
                "quantity": ln.quantity,
                "unit": _money(t, ln.unit_price),
                "amount": _money(t, ln.amount),
            }
            for ln in resp.lines
        ],
        applied=[{"date": t.date(a.paid_at[:10]), "amount": _money(t, a.amount)} for a in resp.payments],
    )


@router.get("/billing/invoices/{invoice_id}/pdf")
async def invoice_pdf(request: Request, invoice_id: str, session: PortalPage) -> Response:
    backends: Backends = request.app.state.backends
    resp = await areas_billing.invoice_pdf(
        backends.billing, backends.identity, session.principal_token, invoice_id, language=_t(request).lang
    )
    return pdf_response(resp.pdf, resp.filename)


# --- make a payment ---------------------------------------------------------------------------------


async def _pay_page(
    request: Request,
    session: Session,
    *,
    amounts: dict[str, str] | None = None,
    key: str = "",
    profile_id: str = "",
    new_token: str = "",
    error: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    t, billing, token = _t(request), _billing(request), session.principal_token
    if not _perms(session)["pay"]:
        return _forbidden(request, session)
    listed = await billing.profiles(token)
    profiles = listed.profiles
    credit = ""
    if session.principal.has(perm.ACCOUNT_OVERVIEW_VIEW):
        overview = await billing.overview(token)
        if overview.credit_balance.amount_minor > 0:
            credit = _money(t, overview.credit_balance)
    only = request.query_params.get("invoice", "")
    typed = request.query_params.get("amount", "").strip() if amounts is None else ""
    minor = parse_amount(typed) if typed else 0
    if minor is None:
        errors = {"amount": t("billing.pay.amount_invalid")}
    # The proposal lists every open invoice the payer may pay, oldest first, and spreads `minor` over them.
    prop = await billing.propose(token, minor or 0)
    proposal = {a.invoice_id: _decimal(a.amount) for a in prop.allocations} if minor else {}
    left = _money(t, prop.unallocated) if minor and prop.unallocated.amount_minor else ""
    rows = []
    for inv in prop.invoices:
        row = _invoice_row(t, inv)
        if amounts is not None:
            row["pay"] = amounts.get(inv.id, "")
        elif proposal:
            row["pay"] = proposal.get(inv.id, "0.00")
        elif only:
            row["pay"] = _decimal(inv.balance_due) if inv.id == only else "0.00"
        else:
            row["pay"] = _decimal(inv.balance_due)
        rows.append(row)
    back = {"state": return_state(request, "pay"), "invoice": only}
    response = _render(
        request,
        "billing/pay.html",
        session,
        status_code=status_code,
        rows=rows,
        profiles=[_profile_view(t, x) for x in profiles],
        credit=credit,
        credit_value=STORE_CREDIT,
        new_card_value=NEW_CARD,
        new_token=new_token,
        tokenize_url=listed.tokenize_url,
        hosted_setup=listed.hosted_setup,
        test_cards=_test_cards(t, listed.test_cards),
        return_url=f"{request.url_for('pay_form')}?{urlencode(back)}",
        profile_id=profile_id or (profiles[0].id if profiles else ""),
        key=key or new_key(),
        typed=typed,
        left=left,
        overpay_credit=prop.overpayment_becomes_credit,
        error=error,
        errors=errors or {},
    )
    return _allow_processor_form(response, listed.tokenize_url)


@router.get("/billing/pay", name="pay_form")
async def pay_form(request: Request, session: PortalPage) -> Response:
    """Make a Payment; back from the processor's card form with `token` and `state` (forms.return_state)."""
    new_token = request.query_params.get("token", "")
    if new_token:
        check_return_state(request, request.query_params.get("state"), "pay")
    return await _pay_page(
        request,
        session,
        new_token=new_token[:100],
        profile_id=NEW_CARD if new_token else "",
        error="" if new_token else _error(request, "pay"),
    )


@router.post("/billing/pay")
async def pay_submit(request: Request, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if not _perms(session)["pay"]:
        return _forbidden(request, session)
    t = _t(request)
    key = str(form.get("idempotency_key", ""))
    profile_id = str(form.get("profile_id", ""))
    new_token = str(form.get("processor_token", ""))[:100] if profile_id == NEW_CARD else ""
    amounts = {k[len("amount_") :]: str(v) for k, v in form.multi_items() if k.startswith("amount_")}
    if not IDEMPOTENCY_KEY.match(key):
        key = new_key()
    allocations, errors = [], {}
    for invoice_id, text in amounts.items():
        minor = parse_amount(text)
        if minor is None:
            errors[f"amount_{invoice_id}"] = t("billing.pay.amount_invalid")
        elif minor > 0:
            allocations.append((invoice_id, minor))
    if not errors and not allocations:
        errors["amounts"] = t("billing.pay.nothing")
    if not profile_id:
        errors["profile_id"] = t("billing.pay.choose_method")
    if errors:
        return await _pay_page(
            request,
            session,
            amounts=amounts,
            key=key,
            profile_id=profile_id,
            new_token=new_token,
            errors=errors,
            status_code=400,
        )
    try:
        resp = await areas_billing.pay(
            _billing(request),
            session.principal_token,
            idempotency_key=key,
            allocations=allocations,
            method=areas_billing.Method.from_choice(profile_id, new_token),
            language=t.lang,
        )
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            raise
        message = split_field(err.details() or "")[1]
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            # Same key on the retry: the processor and billing make sure it is charged once.
            message = t("billing.pay.retry")
        return await _pay_page(
            request,
            session,
            amounts=amounts,
            key=key,
            profile_id=profile_id,
            new_token=new_token,
            error=message,
            status_code=409,
        )
    if resp.payment.status != "succeeded":
        # A declined or voided attempt is finished; a new attempt gets a new key.
        if resp.payment.status == "voided":
            error = t("billing.pay.voided")
        else:
            error = t(
                "billing.pay.declined", reason=t.label("billing.decline", resp.payment.failure_reason or "declined")
            )
        return await _pay_page(request, session, amounts=amounts, profile_id=profile_id, error=error, status_code=402)
    credited = resp.payment.credited
    if credited.amount_minor > 0:
        # Billing kept what was more than the balances as store credit (BILLING_OVERPAYMENT=store_credit).
        query = urlencode({"done": "paid", "credited": credited.amount_minor, "currency": credited.currency})
        return RedirectResponse(f"/billing?{query}", status_code=303)
    return RedirectResponse("/billing?done=paid", status_code=303)


# --- payments ---------------------------------------------------------------------------------------


@router.get("/billing/payments")
async def payments_list(request: Request, session: PortalPage) -> Response:
    t, q = _t(request), _query(request)
    resp = await _billing(request).list_payments(
        session.principal_token, query=q, page_size=PAGE_SIZE, cursor=request.query_params.get("cursor", "")
    )
    more = f"?{urlencode({'q': q, 'cursor': resp.page.next_cursor})}" if resp.page.next_cursor else ""
    return _render(
        request, "billing/payments.html", session, rows=[_payment_row(t, x) for x in resp.payments], q=q, more=more
    )


# --- stored payment options -------------------------------------------------------------------------


def _allow_processor_form(response: Response, tokenize_url: str) -> Response:
    """The edge's policy lets forms post only to us; a card form posts to the processor's origin too."""
    processor = urlsplit(tokenize_url)
    if processor.scheme in ("http", "https") and processor.netloc:
        response.headers["content-security-policy"] = (
            "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'; "
            f"form-action 'self' {processor.scheme}://{processor.netloc}"
        )
    return response


def _profile_view(t: Translator, x) -> dict:  # noqa: ANN001
    expiry = f"{x.exp_month:02d}/{x.exp_year}" if x.exp_year else ""
    return {
        "id": x.id,
        # A bank's name is shown as the processor spells it; a card brand as people write it ("amex": American Express).
        "label": f"{x.brand if x.kind == 'ach' else brand_name(x.brand)} •••• {x.last4}",
        "kind": t(f"billing.kind.{x.kind}") if x.kind in ("card", "ach") else x.kind,
        "expiry": expiry,
        # A bank account does not expire: no expiration reminder for it.
        "expires": x.kind != "ach",
        "nickname": x.nickname,
        "reminder": x.reminder_on,
        "reminder_locked": x.reminder_locked,
    }


@router.get("/billing/payment-options", name="options_page")
async def options_page(request: Request, session: PortalPage) -> Response:
    if not _perms(session)["options"]:
        return _forbidden(request, session)
    t = _t(request)
    resp = await _billing(request).profiles(session.principal_token)
    return_url = str(request.url_for("options_added"))
    response = _render(
        request,
        "billing/options.html",
        session,
        profiles=[_profile_view(t, x) for x in resp.profiles],
        tokenize_url=resp.tokenize_url,
        hosted_setup=resp.hosted_setup,
        test_cards=_test_cards(t, resp.test_cards),
        return_url=f"{return_url}?{urlencode({'state': return_state(request, 'options')})}",
        error=_error(request, "options"),
    )
    return _allow_processor_form(response, resp.tokenize_url)


@router.post("/billing/payment-options/setup")
async def option_setup(request: Request, session: PortalPage) -> Response:
    """Adding a card or bank account on the processor's own page (Stripe Checkout, setup mode): billing starts the
    setup and the browser is sent there; the processor sends it back to options_added with the setup's id."""
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    if not _perms(session)["options"]:
        return _forbidden(request, session)
    kind = "ach" if form.get("kind") == "ach" else "card"
    back = f"{request.url_for('options_added')}?{urlencode({'state': return_state(request, 'options')})}"
    try:
        started = await _billing(request).start_add_payment_method(
            session.principal_token,
            kind=kind,
            # Stripe puts the Checkout Session's id in place of {CHECKOUT_SESSION_ID}.
            success_url=back + "&setup={CHECKOUT_SESSION_ID}",
            cancel_url=str(request.url_for("options_page")),
        )
    except grpc.aio.AioRpcError as err:
        if err.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
            raise
        return RedirectResponse(f"/billing/payment-options?{urlencode({'error': err.details()[:200]})}", 303)
    return RedirectResponse(started.redirect_url, status_code=303)


@router.get("/billing/payment-options/added", name="options_added")
async def options_added(request: Request, session: PortalPage) -> Response:
    """Where the processor sends the browser back with a token (the sandbox's form) or a setup id (Stripe's page);
    `state` ties it to this session (forms.return_state: not the session's form token, which never leaves our
    pages)."""
    if not _perms(session)["options"]:
        return _forbidden(request, session)
    token = request.query_params.get("token", "")
    setup_id = request.query_params.get("setup", "")
    if not token and not setup_id:
        # Nothing is added here, so no state is needed to be sent back to the options page (a bare return, say the
        # customer left the processor's form, is "no card was added"); the processor's own words are never shown:
        # a refusal with this session's state becomes "refused".
        code = "no_token"
        if request.query_params.get("error"):
            try:
                check_return_state(request, request.query_params.get("state"), "options")
                code = "refused"
            except CsrfRejected:
                pass
        return RedirectResponse(f"/billing/payment-options?error={code}", status_code=303)
    check_return_state(request, request.query_params.get("state"), "options")
    if setup_id:
        try:
            await _billing(request).complete_add_payment_method(session.principal_token, setup_id[:300])
        except grpc.aio.AioRpcError as err:
            if err.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
                raise
            return RedirectResponse("/billing/payment-options?error=setup_failed", 303)
        return RedirectResponse("/billing/payment-options?done=added", status_code=303)
    await _billing(request).add_profile(session.principal_token, token)
    return RedirectResponse("/billing/payment-options?done=added", status_code=303)


@router.post("/billing/payment-options/{profile_id}")
async def option_update(request: Request, profile_id: str, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    nickname = form.get("nickname")
    reminder = str(form.get("reminder_on", "")).strip()
    await _billing(request).update_profile(
        session.principal_token,
        profile_id,
        nickname=str(nickname) if nickname is not None else None,
        reminder_on=reminder or None,
    )
    return RedirectResponse("/billing/payment-options?done=saved", status_code=303)


@router.get("/billing/payment-options/{profile_id}/delete")
async def option_delete_confirm(request: Request, profile_id: str, session: PortalPage) -> Response:
    if not _perms(session)["options"]:
        return _forbidden(request, session)
    t = _t(request)
    resp = await _billing(request).profiles(session.principal_token)
    match = [x for x in resp.profiles if x.id == profile_id]
    if not match:
        return _pages(request).error(request, NOT_FOUND, session=session)
    return _render(request, "billing/option_delete.html", session, profile=_profile_view(t, match[0]))


@router.post("/billing/payment-options/{profile_id}/delete")
async def option_delete(request: Request, profile_id: str, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    await _billing(request).delete_profile(session.principal_token, profile_id)
    return RedirectResponse("/billing/payment-options?done=deleted", status_code=303)


# --- estimates --------------------------------------------------------------------------------------

ESTIMATE_STATUSES = ("open", "approved", "declined")


@router.get("/billing/estimates")
async def estimates_list(request: Request, session: PortalPage) -> Response:
    t, q = _t(request), _query(request)
    status = request.query_params.get("status", "")
    status = status if status in ESTIMATE_STATUSES else ""
    resp = await _billing(request).list_estimates(
        session.principal_token,
        query=q,
        status=status,
        page_size=PAGE_SIZE,
        cursor=request.query_params.get("cursor", ""),
    )
    more = f"?{urlencode({'q': q, 'status': status, 'cursor': resp.page.next_cursor})}" if resp.page.next_cursor else ""
    return _render(
        request,
        "billing/estimates.html",
        session,
        rows=[_estimate_row(t, e) for e in resp.estimates],
        q=q,
        status=status,
        statuses=[(s, t.label("billing.estimate", s)) for s in ESTIMATE_STATUSES],
        more=more,
    )


@router.get("/billing/estimates/{estimate_id}")
async def estimate_page(request: Request, estimate_id: str, session: PortalPage) -> Response:
    t = _t(request)
    resp = await _billing(request).get_estimate(session.principal_token, estimate_id)
    return _render(
        request,
        "billing/estimate.html",
        session,
        est=_estimate_row(t, resp.estimate),
        lines=[
            {
                "description": ln.description,
                "quantity": ln.quantity,
                "unit": _money(t, ln.unit_price),
                "amount": _money(t, ln.amount),
            }
            for ln in resp.lines
        ],
    )


@router.get("/billing/estimates/{estimate_id}/pdf")
async def estimate_pdf(request: Request, estimate_id: str, session: PortalPage) -> Response:
    resp = await _billing(request).estimate_pdf(session.principal_token, estimate_id, language=_t(request).lang)
    return pdf_response(resp.pdf, resp.filename)


REASON_MAX = 500


async def _decision_page(
    request: Request, session: Session, estimate_id: str, decision: str, *, reason: str = "", status_code: int = 200
) -> Response:
    """The confirmation before an estimate's decision is final (a form: works without JavaScript), with an
    optional reason; an estimate no longer open, or no known decision, goes back to its page (after billing said
    the user may see the estimate)."""
    t = _t(request)
    resp = await _billing(request).get_estimate(session.principal_token, estimate_id)
    if resp.estimate.status != "open" or decision not in ("approve", "decline"):
        return RedirectResponse(f"/billing/estimates/{quote(resp.estimate.id, safe='')}", status_code=303)
    too_long = len(reason) > REASON_MAX
    return _render(
        request,
        "billing/estimate_decide.html",
        session,
        status_code=400 if too_long else status_code,
        est=_estimate_row(t, resp.estimate),
        decision=decision,
        reason=reason,
        reason_max=REASON_MAX,
        errors={"reason": t("billing.decide.reason_too_long", max=REASON_MAX)} if too_long else {},
    )


@router.get("/billing/estimates/{estimate_id}/decision")
async def estimate_decide_confirm(request: Request, estimate_id: str, session: PortalPage) -> Response:
    """The confirmation page; an unknown `decision` (or a decided estimate) goes back to the estimate's page."""
    return await _decision_page(request, session, estimate_id, request.query_params.get("decision", ""))


@router.post("/billing/estimates/{estimate_id}/decision")
async def estimate_decide(request: Request, estimate_id: str, session: PortalPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "decline"):
        return _pages(request).error(request, INVALID, session=session)
    reason = str(form.get("reason", "")).strip()
    if len(reason) > REASON_MAX:
        return await _decision_page(request, session, estimate_id, decision, reason=reason)
    await _billing(request).decide_estimate(
        session.principal_token, estimate_id, approve=decision == "approve", reason=reason
    )
    done = "approved" if decision == "approve" else "declined"
    return RedirectResponse(f"/billing/estimates/{estimate_id}?done={done}", status_code=303)
