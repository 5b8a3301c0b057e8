"""portal.billing.v1.BillingService: proto ⇄ domain; the rules live in the aggregates' service modules.

No unit of work spans a processor call: payments are begun, charged and finished in separate steps.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from datetime import date

from billing import metrics
from billing.credit import service as credit
from billing.credit.models import CreditEntry
from billing.customers import service as customers
from billing.customers.models import CustomerBilling
from billing.estimates import service as estimates
from billing.estimates.models import Estimate
from billing.invoices import service as invoices
from billing.invoices.models import Invoice
from billing.payments import service as payments
from billing.payments import staff as staff_payments
from billing.payments import webhooks
from billing.payments.http_processor import SandboxProcessor
from billing.payments.models import FAILED, PENDING, VOIDED, Payment, PaymentProfile, Refund
from billing.payments.processor import (
    HostedSetup,
    InvalidToken,
    PaymentProcessor,
    ProcessorError,
    RefundRefused,
    TokenDetails,
    WebhookRejected,
    Webhooks,
)
from billing.payments.reconciler import Reconciler
from billing.search.rpcs import SearchRpcs
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit import i18n
from servicekit import permissions as perm
from servicekit.db import Database
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from servicekit.pagination import page_size
from servicekit.principal import current_principal, require

# A Checkout Session's (cs_…) or a SetupIntent's (seti_…) id, as it comes back through the browser.
SETUP_ID = re.compile(r"(cs|seti)_[A-Za-z0-9_]{1,250}")

# Rows in each list section of the portal's top page (SPEC B7: the ten most recent payments).
SUMMARY_ROWS = 10

log = logging.getLogger(__name__)


def _money(amount: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency=currency)


class BillingServicer(SearchRpcs, billing_pb2_grpc.BillingServiceServicer):
    def __init__(
        self,
        db: Database,
        processor: PaymentProcessor,
        reconciler: Reconciler,
        *,
        overpayment_to_credit: bool = False,
        provider_name: str = "",
        provider_address: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.processor = processor
        self.reconciler = reconciler
        self.overpayment_to_credit = overpayment_to_credit
        # Who bills: printed at the top of every invoice PDF (BILLING_PROVIDER_NAME / BILLING_PROVIDER_ADDRESS).
        self.provider_name = provider_name
        self.provider_address = provider_address

    # --- invoices -------------------------------------------------------------------------------------

    async def ListOpenInvoices(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.read() as conn:
            page = await invoices.list_open_invoices(
                conn, principal=principal, page_size=size, cursor=request.page.cursor
            )
        return billing_pb2.ListOpenInvoicesResponse(
            invoices=[_invoice(item.invoice, item.items_summary) for item in page.invoices],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def ListInvoices(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await invoices.list_invoices(
                s,
                principal=principal,
                page_size=size,
                cursor=request.page.cursor,
                query=request.query,
                customer_id=request.customer_id,
            )
        return billing_pb2.ListInvoicesResponse(
            invoices=[_invoice(item.invoice, item.items_summary) for item in page.invoices],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def GetInvoice(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            inv = await invoices.get_visible_invoice(s, principal=principal, invoice_id=request.invoice_id)
            applied = await payments.applied_to(s, invoice_id=inv.id)
            refunds = await staff_payments.refunds_of(s, [p_id for p_id, _, _ in applied])
        summary = invoices.items_summary([ln.description for ln in inv.lines[:3]], len(inv.lines))
        return billing_pb2.GetInvoiceResponse(
            invoice=_invoice(inv, summary),
            lines=[_line(ln, inv.currency) for ln in inv.lines],
            payments=[
                billing_pb2.AppliedPayment(
                    payment_id=p_id,
                    paid_at=at.isoformat(),
                    amount=_money(amount, inv.currency),
                    refunded=_money(refunds.get(p_id, (0, ""))[0], inv.currency),
                    method=refunds.get(p_id, (0, ""))[1],
                )
                for p_id, at, amount in applied
            ],
        )

    async def GetInvoicePdf(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            inv = await invoices.get_visible_invoice(s, principal=principal, invoice_id=request.invoice_id)
        # Drawing takes milliseconds of CPU; off the event loop so other calls keep flowing.
        from billing.pdf import Party, invoice_pdf  # fpdf2 costs ~50 MB of memory: load it on the first PDF

        pdf = await asyncio.to_thread(
            functools.partial(
                invoice_pdf,
                inv,
                language=request.language if request.language in ("en", "fr") else "en",
                provider=Party(self.provider_name, self.provider_address),
                bill_to=Party(request.bill_to.name, tuple(request.bill_to.address_lines)),
            )
        )
        return billing_pb2.GetInvoicePdfResponse(pdf=pdf, filename=f"{inv.number}.pdf")

    async def GetEstimatePdf(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            est = await estimates.get_estimate(s, principal=principal, estimate_id=request.estimate_id)
        from billing.pdf import estimate_pdf  # lazy for the same reason as invoice_pdf's

        pdf = await asyncio.to_thread(functools.partial(estimate_pdf, language=i18n.language(request.language)), est)
        return billing_pb2.GetEstimatePdfResponse(pdf=pdf, filename=f"{est.number}.pdf")

    async def GetPortalSummary(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        rows = page_size(request.rows or SUMMARY_ROWS)
        shown = {
            "overview": principal.has(perm.ACCOUNT_OVERVIEW_VIEW),
            "invoices": principal.has(perm.INVOICES_VIEW_ALL) or principal.has(perm.INVOICES_VIEW_MINE),
            "payments": principal.has(perm.PAYMENTS_VIEW_ALL) or principal.has(perm.PAYMENTS_VIEW_MINE),
            "estimates": principal.has(perm.ESTIMATES_VIEW_ALL) or principal.has(perm.ESTIMATES_VIEW_MINE),
        }
        resp = billing_pb2.GetPortalSummaryResponse(
            overview_shown=shown["overview"],
            invoices_shown=shown["invoices"],
            payments_shown=shown["payments"],
            estimates_shown=shown["estimates"],
        )
        # One read-only session for every section the group shows: the same queries as the sections' own RPCs.
        async with self.db.unit_of_work() as s:
            pending = await payments.pending_payments(s, principal=principal)
            if pending:
                numbers = await payments.invoice_numbers(s, pending)
                resp.pending_payments.extend(_payment(p, numbers) for p in pending)
            if not any(shown.values()):
                return resp
            if shown["overview"]:
                o = await credit.account_overview(s, principal=principal)
                resp.invoice_balance.CopyFrom(_money(o.invoice_balance_minor, o.currency))
                resp.credit_balance.CopyFrom(_money(o.credit_balance_minor, o.currency))
                resp.open_invoice_count = o.open_invoices
            if shown["invoices"]:
                page = await invoices.list_open_invoices(s, principal=principal, page_size=rows)
                resp.open_invoices.extend(_invoice(item.invoice, item.items_summary) for item in page.invoices)
                resp.more_open_invoices = bool(page.next_cursor)
            if shown["payments"]:
                paid = await payments.list_payments(s, principal=principal, page_size=rows)
                credited = await payments.credited(s, paid.payments)
                resp.recent_payments.extend(_payment(p, paid.numbers, credited) for p in paid.payments)
            if shown["estimates"]:
                sent = await estimates.list_estimates(s, principal=principal, page_size=rows)
                resp.estimates.extend(_estimate(e) for e in sent.estimates)
        return resp

    async def GetAccountOverview(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            o = await credit.account_overview(s, principal=principal, customer_id=request.customer_id)
        return billing_pb2.GetAccountOverviewResponse(
            invoice_balance=_money(o.invoice_balance_minor, o.currency),
            credit_balance=_money(o.credit_balance_minor, o.currency),
            open_invoices=o.open_invoices,
        )

    # --- payments -------------------------------------------------------------------------------------

    async def ProposeAllocation(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            proposal, left = await payments.propose_allocation(
                s, principal=principal, amount_minor=request.amount.amount_minor
            )
            summaries = await invoices.summaries_of(s, [inv.id for inv, _ in proposal])
        currency = proposal[0][0].currency if proposal else (request.amount.currency or "USD")
        return billing_pb2.ProposeAllocationResponse(
            allocations=[
                billing_pb2.Allocation(invoice_id=inv.id, amount=_money(share, inv.currency)) for inv, share in proposal
            ],
            unallocated=_money(left, currency),
            invoices=[_invoice(inv, summaries.get(inv.id, "")) for inv, _ in proposal],
            overpayment_becomes_credit=self.overpayment_to_credit,
        )

    async def MakePayment(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        require(principal, perm.INVOICES_PAY_ONLINE)
        allocations = [invoices.AllocationInput(a.invoice_id, a.amount.amount_minor) for a in request.allocations]
        new_card: TokenDetails | None = None
        if request.processor_token and not request.payment_profile_id:
            new_card = await self._describe(request.processor_token, principal.customer_id)
        async with self.db.unit_of_work() as s:
            begun = await payments.begin_payment(
                s,
                principal=principal,
                idempotency_key=request.idempotency_key,
                allocations=allocations,
                profile_id=request.payment_profile_id,
                processor_token=request.processor_token,
                new_card=new_card,
                overpayment_to_credit=self.overpayment_to_credit,
                language=request.language,
            )
        payment = begun.payment
        if payment.status == PENDING:
            payment = await self._charge(payment, language=request.language)
        async with self.db.unit_of_work() as s:
            numbers = await payments.invoice_numbers(s, [payment])
            credited = await payments.credited(s, [payment])
        return billing_pb2.MakePaymentResponse(payment=_payment(payment, numbers, credited), replayed=begun.replayed)

    async def ApplyStoreCredit(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        allocations = [invoices.AllocationInput(a.invoice_id, a.amount.amount_minor) for a in request.allocations]
        async with self.db.unit_of_work() as s:
            begun = await payments.apply_credit(
                s,
                principal=principal,
                idempotency_key=request.idempotency_key,
                allocations=allocations,
                language=request.language,
            )
            numbers = await payments.invoice_numbers(s, [begun.payment])
        return billing_pb2.ApplyStoreCreditResponse(payment=_payment(begun.payment, numbers), replayed=begun.replayed)

    async def _describe(self, token: str, customer_id: str) -> TokenDetails:
        if not self.processor.token_format.matches(token):
            # Not echoed: a client's bytes in an error detail end up in logs and pages.
            raise InvalidArgument(
                f"not a token of this payment processor (expected {self.processor.token_format.hint})",
                field="processor_token",
            )
        try:
            details = await self.processor.describe_token(token)
        except InvalidToken:
            raise InvalidArgument("the card token is not known to the processor", field="processor_token") from None
        except ProcessorError as exc:
            raise Unavailable("the payment processor is unavailable; try again") from exc
        # Where cards are added on the processor's page, each is kept for the customer who added it: another
        # customer's token (an id seen somewhere) is not one this caller may store or charge.
        if hasattr(self.processor, "start_setup") and details.owner != customer_id:
            raise InvalidArgument("the card token is not known to the processor", field="processor_token")
        return details

    async def _charge(self, payment: Payment, *, language: str = "") -> Payment:
        try:
            charge = await self.processor.charge(
                token=payment.processor_token,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
                idempotency_key=payments.processor_key(payment),
                description=f"portal payment {payment.id}",
            )
        except ProcessorError as exc:
            # The outcome is unknown: the payment stays pending, and a retry with the same key asks the
            # processor for the same charge.
            log.warning("processor call failed", extra={"payment_id": payment.id, "error": str(exc)})
            raise Unavailable("the payment processor did not answer; retry with the same idempotency key") from exc
        except InvalidToken:
            raise InvalidArgument("the stored payment option is no longer valid", field="payment_profile_id") from None
        async with self.db.unit_of_work() as s:
            payment, recorded = await payments.finish_payment(
                s, payment_id=payment.id, charge=charge, language=language
            )
        if recorded:
            metrics.count_payment(payment)
        elif payment.status == VOIDED and charge.succeeded:
            # The reconciler voided this payment while this retry was at the processor: give the charge back now
            # (one refund per payment, whoever gets there first) rather than wait for the next pass.
            await self.reconciler.refund_late_charge(payment.id, charge)
            async with self.db.unit_of_work() as s:
                payment = await payments.get_payment(s, payment.id)
        return payment

    async def ListPayments(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await payments.list_payments(
                s, principal=principal, page_size=size, cursor=request.page.cursor, query=request.query
            )
            credited = await payments.credited(s, page.payments)
        return billing_pb2.ListPaymentsResponse(
            payments=[_payment(p, page.numbers, credited) for p in page.payments],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def ListPendingPayments(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        if not payments.follows_payments(principal):
            raise PermissionDenied("your portal group does not allow viewing payments")
        async with self.db.unit_of_work() as s:
            pending = await payments.pending_payments(s, principal=principal)
            numbers = await payments.invoice_numbers(s, pending)
        return billing_pb2.ListPendingPaymentsResponse(payments=[_payment(p, numbers) for p in pending])

    async def CheckPayment(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            payment = await payments.followed_payment(s, principal=principal, payment_id=request.payment_id)
        if payment.status == PENDING:
            try:
                await self.reconciler.settle(payment.id)
            except ProcessorError as exc:
                raise Unavailable("the payment processor cannot be asked now; try again in a minute") from exc
        async with self.db.unit_of_work() as s:
            payment = await payments.followed_payment(s, principal=principal, payment_id=request.payment_id)
            numbers = await payments.invoice_numbers(s, [payment])
            credited = await payments.credited(s, [payment])
        return billing_pb2.CheckPaymentResponse(payment=_payment(payment, numbers, credited))

    # --- payment profiles -----------------------------------------------------------------------------

    async def ListPaymentProfiles(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            profiles = await payments.list_profiles(s, principal=principal)
        return billing_pb2.ListPaymentProfilesResponse(
            profiles=[_profile(p) for p in profiles],
            tokenize_url=self.processor.tokenize_url,
            hosted_setup=hasattr(self.processor, "start_setup"),
            test_cards=_test_cards() if isinstance(self.processor, SandboxProcessor) else [],
        )

    async def AddPaymentProfile(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        require(principal, perm.PAYMENT_OPTIONS_MANAGE)
        if not request.processor_token:
            raise InvalidArgument("a processor token is required", field="processor_token")
        details = await self._describe(request.processor_token, principal.customer_id)
        async with self.db.unit_of_work() as s:
            profile = await payments.add_profile(
                s,
                principal=principal,
                processor_token=request.processor_token,
                details=details,
                nickname=request.nickname,
            )
        return billing_pb2.AddPaymentProfileResponse(profile=_profile(profile))

    def _hosted(self) -> HostedSetup:
        if not hasattr(self.processor, "start_setup"):
            raise FailedPrecondition("this payment processor takes new cards on its form (tokenize_url)")
        return self.processor  # type: ignore[return-value]

    async def StartAddPaymentMethod(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        require(principal, perm.PAYMENT_OPTIONS_MANAGE)
        invoices.payer_customers(principal)
        hosted = self._hosted()
        kind = request.kind or "card"
        if kind not in ("card", "ach"):
            raise InvalidArgument("kind is card or ach", field="kind")
        for field, url in (("success_url", request.success_url), ("cancel_url", request.cancel_url)):
            if not url.startswith(("https://", "http://")) or len(url) > 2000:
                raise InvalidArgument("an absolute http(s) URL of the portal is required", field=field)
        if "{CHECKOUT_SESSION_ID}" not in request.success_url:
            raise InvalidArgument("success_url must contain {CHECKOUT_SESSION_ID}", field="success_url")
        try:
            setup = await hosted.start_setup(
                portal_customer_id=principal.customer_id,
                success_url=request.success_url,
                cancel_url=request.cancel_url,
                kind=kind,
            )
        except ProcessorError as exc:
            raise Unavailable("the payment processor is unavailable; try again") from exc
        return billing_pb2.StartAddPaymentMethodResponse(redirect_url=setup.redirect_url)

    async def CompleteAddPaymentMethod(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        require(principal, perm.PAYMENT_OPTIONS_MANAGE)
        invoices.payer_customers(principal)
        hosted = self._hosted()
        setup_id = request.setup_id
        if not SETUP_ID.fullmatch(setup_id):
            raise InvalidArgument("not a setup id of this payment processor", field="setup_id")
        try:
            token = await hosted.finish_setup(setup_id, portal_customer_id=principal.customer_id)
        except InvalidToken:
            raise InvalidArgument(
                "the processor has no finished card setup of yours with this id", field="setup_id"
            ) from None
        except ProcessorError as exc:
            raise Unavailable("the payment processor is unavailable; try again") from exc
        details = await self._describe(token, principal.customer_id)
        async with self.db.unit_of_work() as s:
            profile = await payments.add_profile(
                s, principal=principal, processor_token=token, details=details, nickname=request.nickname
            )
        return billing_pb2.CompleteAddPaymentMethodResponse(profile=_profile(profile))

    async def HandleProcessorEvent(self, request, context):  # noqa: ANN001, ANN201, N802
        if not hasattr(self.processor, "verify_event"):
            raise NotFound("this payment processor sends no webhooks")
        verifier: Webhooks = self.processor  # type: ignore[assignment]
        try:
            event = verifier.verify_event(request.payload, request.signature)
        except WebhookRejected as exc:
            # Nothing of an unverified body is read, logged or written.
            raise InvalidArgument(f"webhook refused: {exc}", field="signature") from None
        async with self.db.unit_of_work() as s:
            outcome, payment = await webhooks.finish_from_event(s, event)
        if payment is not None:
            metrics.count_payment(payment)
        log.info("processor event", extra={"event_id": event.id, "event_type": event.type, "outcome": outcome})
        return billing_pb2.HandleProcessorEventResponse(event_id=event.id, outcome=outcome)

    async def UpdatePaymentProfile(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            profile = await payments.update_profile(
                s,
                principal=principal,
                profile_id=request.profile_id,
                nickname=request.nickname if request.HasField("nickname") else None,
                reminder_on=request.reminder_on if request.HasField("reminder_on") else None,
            )
        return billing_pb2.UpdatePaymentProfileResponse(profile=_profile(profile))

    async def DeletePaymentProfile(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await payments.delete_profile(s, principal=principal, profile_id=request.profile_id)
        return billing_pb2.DeletePaymentProfileResponse()

    # --- estimates ------------------------------------------------------------------------------------

    async def ListEstimates(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await estimates.list_estimates(
                s,
                principal=principal,
                page_size=size,
                cursor=request.page.cursor,
                query=request.query,
                status=request.status,
                customer_id=request.customer_id,
            )
        return billing_pb2.ListEstimatesResponse(
            estimates=[_estimate(e) for e in page.estimates],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def GetEstimate(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            est = await estimates.get_estimate(s, principal=principal, estimate_id=request.estimate_id)
        return billing_pb2.GetEstimateResponse(
            estimate=_estimate(est), lines=[_line(ln, est.currency) for ln in est.lines]
        )

    async def DecideEstimate(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            est = await estimates.decide_estimate(
                s,
                principal=principal,
                estimate_id=request.estimate_id,
                approve=request.approve,
                reason=request.reason,
            )
        return billing_pb2.DecideEstimateResponse(estimate=_estimate(est))

    # --- staff ----------------------------------------------------------------------------------------

    async def GetCustomerBillingSettings(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            row = await customers.get_settings(s, principal=principal, customer_id=request.customer_id)
            settings = _settings(row)
        return billing_pb2.GetCustomerBillingSettingsResponse(settings=settings)

    async def CreateInvoice(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            inv, replayed = await invoices.create_invoice(
                s,
                principal=principal,
                customer_id=request.customer_id,
                contact_id=request.contact_id,
                ticket_id=request.ticket_id,
                issued_on=_date(request.issued_on, "issued_on"),
                currency=request.currency,
                lines=_lines(request.lines),
                terms_days=request.terms_days if request.HasField("terms_days") else None,
                idempotency_key=request.idempotency_key,
                draft=request.draft,
            )
        summary = invoices.items_summary([ln.description for ln in inv.lines[:3]], len(inv.lines))
        return billing_pb2.CreateInvoiceResponse(invoice=_invoice(inv, summary), replayed=replayed)

    async def CreateEstimate(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            est, replayed = await estimates.create_estimate(
                s,
                principal=principal,
                customer_id=request.customer_id,
                contact_id=request.contact_id,
                name=request.name,
                currency=request.currency,
                lines=_lines(request.lines),
                idempotency_key=request.idempotency_key,
                draft=request.draft,
            )
        return billing_pb2.CreateEstimateResponse(estimate=_estimate(est), replayed=replayed)

    async def AddStoreCredit(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            added = await credit.add_credit(
                s,
                principal=principal,
                customer_id=request.customer_id,
                amount_minor=request.amount.amount_minor,
                currency=request.amount.currency,
                reference=request.reference,
                message=request.message,
                idempotency_key=request.idempotency_key,
            )
        return billing_pb2.AddStoreCreditResponse(
            credit_balance=_money(added.credit_balance_minor, added.currency),
            replayed=added.replayed,
            entry_id=added.entry_id,
        )

    async def UpdateInvoice(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            inv = await invoices.update_invoice(
                s,
                principal=principal,
                invoice_id=request.invoice_id,
                contact_id=request.contact_id,
                lines=_lines(request.lines),
                terms_days=request.terms_days if request.HasField("terms_days") else None,
            )
            summary = invoices.items_summary([ln.description for ln in inv.lines[:3]], len(inv.lines))
            return billing_pb2.UpdateInvoiceResponse(
                invoice=_invoice(inv, summary), lines=[_line(ln, inv.currency) for ln in inv.lines]
            )

    async def SendInvoice(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            inv, replayed = await invoices.send_invoice(s, principal=principal, invoice_id=request.invoice_id)
            summary = invoices.items_summary([ln.description for ln in inv.lines[:3]], len(inv.lines))
        return billing_pb2.SendInvoiceResponse(invoice=_invoice(inv, summary), replayed=replayed)

    async def VoidInvoice(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            inv, replayed = await invoices.void_invoice(s, principal=principal, invoice_id=request.invoice_id)
            summary = invoices.items_summary([ln.description for ln in inv.lines[:3]], len(inv.lines))
        return billing_pb2.VoidInvoiceResponse(invoice=_invoice(inv, summary), replayed=replayed)

    async def SendEstimate(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            est, replayed = await estimates.send_estimate(s, principal=principal, estimate_id=request.estimate_id)
        return billing_pb2.SendEstimateResponse(estimate=_estimate(est), replayed=replayed)

    async def ListCustomerPayments(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            page = await staff_payments.list_customer_payments(
                s, principal=principal, customer_id=request.customer_id, page_size=size, cursor=request.page.cursor
            )
            credited = await payments.credited(s, page.payments)
        return billing_pb2.ListCustomerPaymentsResponse(
            payments=[_payment(p, page.numbers, credited, page.pending_refunds) for p in page.payments],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def RecordPayment(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        allocations = [invoices.AllocationInput(a.invoice_id, a.amount.amount_minor) for a in request.allocations]
        async with self.db.unit_of_work() as s:
            begun = await staff_payments.record_payment(
                s,
                principal=principal,
                customer_id=request.customer_id,
                method=request.method,
                reference=request.reference,
                amount_minor=request.amount.amount_minor,
                currency=request.amount.currency,
                allocations=allocations,
                idempotency_key=request.idempotency_key,
                overpayment_to_credit=self.overpayment_to_credit,
            )
            numbers = await payments.invoice_numbers(s, [begun.payment])
            credited = await payments.credited(s, [begun.payment])
        return billing_pb2.RecordPaymentResponse(
            payment=_payment(begun.payment, numbers, credited), replayed=begun.replayed
        )

    async def RefundPayment(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            begun = await staff_payments.begin_refund(
                s,
                principal=principal,
                payment_id=request.payment_id,
                amount_minor=request.amount.amount_minor,
                reason=request.reason,
                idempotency_key=request.idempotency_key,
            )
            payment = await payments.get_payment(s, begun.refund.payment_id)
        refund = begun.refund
        if refund.status == PENDING:
            refund, payment = await self._refund(refund, payment)
        async with self.db.unit_of_work() as s:
            numbers = await payments.invoice_numbers(s, [payment])
            pending = await staff_payments.pending_refunds(s, [payment.id])
        return billing_pb2.RefundPaymentResponse(
            refund=_refund(refund), payment=_payment(payment, numbers, None, pending), replayed=begun.replayed
        )

    async def _refund(self, refund: Refund, payment: Payment) -> tuple[Refund, Payment]:
        try:
            outcome = await self.processor.refund(
                charge_id=payment.charge_id or "",
                amount_minor=refund.amount_minor,
                currency=refund.currency,
                idempotency_key=staff_payments.processor_key(refund),
            )
        except RefundRefused as exc:
            async with self.db.unit_of_work() as s:
                refund, payment, _ = await staff_payments.finish_refund(
                    s, refund_id=refund.id, outcome=None, failure_reason=str(exc) or "refused by the processor"
                )
            return refund, payment
        except ProcessorError as exc:
            # The outcome is unknown: the refund stays pending (and holds its amount); the same key asks again.
            log.warning("processor refund failed", extra={"refund_id": refund.id, "error": str(exc)})
            raise Unavailable("the payment processor did not answer; retry with the same idempotency key") from exc
        async with self.db.unit_of_work() as s:
            refund, payment, _ = await staff_payments.finish_refund(s, refund_id=refund.id, outcome=outcome)
        return refund, payment

    async def ListCreditEntries(self, request, context):  # noqa: ANN001, ANN201, N802
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.unit_of_work() as s:
            ledger = await credit.list_entries(
                s, principal=principal, customer_id=request.customer_id, page_size=size, cursor=request.page.cursor
            )
        return billing_pb2.ListCreditEntriesResponse(
            entries=[_credit_entry(e) for e in ledger.entries],
            credit_balance=_money(ledger.credit_balance_minor, ledger.currency),
            page=common_pb2.PageResponse(next_cursor=ledger.next_cursor),
        )


def _test_cards() -> list[billing_pb2.TestCard]:
    try:
        # Not at the top: the production image leaves the sandbox out (and with it Starlette, which it serves with).
        from billing.payments.sandbox import CARDS
    except ImportError:  # an image without the sandbox, calling a shared one: no numbers to show
        return []
    return [
        billing_pb2.TestCard(number=number, brand=brand, decline_code=code) for number, (brand, code) in CARDS.items()
    ]


def _settings(row: CustomerBilling) -> billing_pb2.CustomerBillingSettings:
    # Configured once identity's settings for the customer arrived; until then the defaults apply.
    return billing_pb2.CustomerBillingSettings(
        customer_id=row.customer_id,
        tax_rate_bp=row.tax_rate_bp,
        tax_free=row.tax_free,
        terms_days=row.terms_days,
        configured=row.settings_at is not None,
    )


def _date(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument("a date is YYYY-MM-DD", field=field) from None


def _lines(lines) -> list[invoices.LineInput]:  # noqa: ANN001
    return [invoices.LineInput(ln.description, ln.quantity, ln.unit_price_minor) for ln in lines]


def _invoice(inv: Invoice, items_summary: str) -> billing_pb2.Invoice:
    shown, days_overdue = invoices.display_status(
        status=inv.status,
        total_minor=inv.total_minor,
        balance_minor=inv.balance_minor,
        due_on=inv.due_on,
        today=invoices.today_utc(),
    )
    return billing_pb2.Invoice(
        id=inv.id,
        number=inv.number or "",
        customer_id=inv.customer_id,
        contact_id=inv.contact_id or "",
        issued_on=inv.issued_on.isoformat(),
        due_on=inv.due_on.isoformat(),
        status=inv.status,
        items_summary=items_summary,
        total=_money(inv.total_minor, inv.currency),
        balance_due=_money(inv.balance_minor, inv.currency),
        subtotal=_money(inv.subtotal_minor, inv.currency),
        tax=_money(inv.tax_minor, inv.currency),
        tax_rate_bp=inv.tax_rate_bp,
        ticket_id=inv.ticket_id or "",
        display_status=shown,
        days_overdue=days_overdue,
        sent_on=inv.sent_on.isoformat() if getattr(inv, "sent_on", None) else "",
        voided_at=inv.voided_at.isoformat() if getattr(inv, "voided_at", None) else "",
    )


def _line(ln, currency: str) -> billing_pb2.Line:  # noqa: ANN001
    return billing_pb2.Line(
        description=ln.description,
        quantity=format(ln.quantity.normalize(), "f"),
        unit_price=_money(ln.unit_price_minor, currency),
        amount=_money(ln.amount_minor, currency),
    )


def _payment(
    p: Payment,
    numbers: dict[str, str],
    credited: dict[str, int] | None = None,
    pending_refunds: dict[str, int] | None = None,
) -> billing_pb2.Payment:
    left = staff_payments.refundable(p, (pending_refunds or {}).get(p.id, 0))
    return billing_pb2.Payment(
        id=p.id,
        customer_id=p.customer_id,
        status=p.status,
        amount=_money(p.amount_minor, p.currency),
        created_at=p.created_at.isoformat(),
        method=p.method,
        failure_reason=p.failure_reason if p.status in (FAILED, VOIDED) else "",
        allocations=[
            billing_pb2.Allocation(invoice_id=a.invoice_id, amount=_money(a.amount_minor, p.currency))
            for a in p.allocations
        ],
        invoice_numbers=[numbers.get(a.invoice_id, "") for a in p.allocations],
        reference=p.charge_id or "",
        credited=_money((credited or {}).get(p.id, 0), p.currency),
        refunded=_money(p.refunded_minor or 0, p.currency),
        refundable=left > 0,
        refundable_amount=_money(left, p.currency),
    )


def _profile(p: PaymentProfile) -> billing_pb2.PaymentProfile:
    return billing_pb2.PaymentProfile(
        id=p.id,
        kind=p.kind,
        brand=p.brand,
        last4=p.last4,
        exp_month=p.exp_month,
        exp_year=p.exp_year,
        nickname=p.nickname,
        reminder_on=p.reminder_on.isoformat() if p.reminder_on else "",
        reminder_locked=p.reminder_locked,
    )


def _estimate(e: Estimate) -> billing_pb2.Estimate:
    return billing_pb2.Estimate(
        id=e.id,
        number=e.number,
        customer_id=e.customer_id,
        contact_id=e.contact_id or "",
        name=e.name,
        status=e.status,
        sent_on=e.sent_on.isoformat(),
        total=_money(e.total_minor, e.currency),
        decided_at=e.decided_at.isoformat() if e.decided_at else "",
        decided_by=e.decided_by or "",
        decided_by_name=e.decided_by_name or "",
        decision_reason=e.decision_reason or "",
    )


def _refund(r: Refund) -> billing_pb2.Refund:
    return billing_pb2.Refund(
        id=r.id,
        payment_id=r.payment_id,
        status=r.status,
        amount=_money(r.amount_minor, r.currency),
        reason=r.reason,
        failure_reason=r.failure_reason,
        created_at=r.created_at.isoformat(),
        created_by=r.created_by,
    )


def _credit_entry(e: CreditEntry) -> billing_pb2.CreditEntry:
    return billing_pb2.CreditEntry(
        id=e.id,
        amount=_money(e.amount_minor, e.currency),
        reference=e.reference,
        message=e.message,
        created_at=e.created_at.isoformat(),
        created_by=e.created_by,
        invoice_id=e.invoice_id or "",
    )
