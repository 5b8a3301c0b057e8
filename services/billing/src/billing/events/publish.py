"""The events billing publishes (messages in portal/billing/v1/events.proto), each written to the outbox in the unit
of work of the change it reports. Imports models only, so every domain module can publish without a cycle.

- invoice_created: staff made an invoice (ticket_id set when it bills a ticket, for the tickets' marker).
- invoice_paid: an invoice's balance reached zero.
- payment_succeeded / payment_failed: the outcome of a payment, once per payment (never per retry).
- estimate_sent: a draft estimate was sent and awaits the customer's approval, once per estimate.
- estimate_approved / estimate_declined: the customer's (or staff's) decision, once per estimate.
- payment_refunded: a refund of a payment succeeded at the processor, once per refund.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from billing.estimates.models import APPROVED, Estimate
from billing.invoices.models import Invoice
from billing.payments.models import Payment, Refund
from portal.billing.v1 import events_pb2
from portal.common.v1 import common_pb2
from servicekit.events import add_event, subject

INVOICE_CREATED = subject("billing", "invoice_created")
INVOICE_PAID = subject("billing", "invoice_paid")
PAYMENT_SUCCEEDED = subject("billing", "payment_succeeded")
PAYMENT_FAILED = subject("billing", "payment_failed")
ESTIMATE_APPROVED = subject("billing", "estimate_approved")
ESTIMATE_DECLINED = subject("billing", "estimate_declined")
ESTIMATE_SENT = subject("billing", "estimate_sent")
PAYMENT_REFUNDED = subject("billing", "payment_refunded")


async def invoice_created(session: AsyncSession, invoice: Invoice) -> str:
    message = events_pb2.InvoiceCreated(
        invoice_id=invoice.id,
        number=invoice.number,
        ticket_id=invoice.ticket_id or "",
        total=common_pb2.Money(amount_minor=invoice.total_minor, currency=invoice.currency),
    )
    return await add_event(session, INVOICE_CREATED, message, customer_id=invoice.customer_id)


async def invoice_paid(session: AsyncSession, invoice: Invoice) -> str:
    message = events_pb2.InvoicePaid(invoice_id=invoice.id, number=invoice.number, ticket_id=invoice.ticket_id or "")
    return await add_event(session, INVOICE_PAID, message, customer_id=invoice.customer_id)


async def payment_succeeded(
    session: AsyncSession,
    payment: Payment,
    *,
    invoices: Mapping[str, Invoice],
    applied: list[int],
    credited_minor: int = 0,
    language: str = "",
) -> str:
    """What a receipt needs (identity mails it): the method as brand and last four (`Payment.method`, never the
    token), each invoice's number, the amount applied to it (`applied`, in allocation order) and its balance after, and
    the part kept as store credit."""
    message = _outcome(payment)
    message.contact_id = payment.contact_id or ""
    message.method = payment.method
    message.language = language if language in ("en", "fr") else ""
    if payment.completed_at is not None:
        message.paid_at.FromDatetime(payment.completed_at)
    for a, amount_minor in zip(payment.allocations, applied, strict=True):
        invoice = invoices.get(a.invoice_id)
        message.applied.append(
            events_pb2.AppliedToInvoice(
                invoice_id=a.invoice_id,
                number=invoice.number if invoice else "",
                amount=common_pb2.Money(amount_minor=amount_minor, currency=payment.currency),
                balance_due=common_pb2.Money(
                    amount_minor=invoice.balance_minor if invoice else 0, currency=payment.currency
                ),
            )
        )
    message.credited.CopyFrom(common_pb2.Money(amount_minor=credited_minor, currency=payment.currency))
    return await add_event(session, PAYMENT_SUCCEEDED, message, customer_id=payment.customer_id)


async def payment_failed(session: AsyncSession, payment: Payment, *, failure_reason: str) -> str:
    message = _outcome(payment, failure_reason=failure_reason)
    return await add_event(session, PAYMENT_FAILED, message, customer_id=payment.customer_id)


def _outcome(payment: Payment, *, failure_reason: str = "") -> events_pb2.PaymentOutcome:
    return events_pb2.PaymentOutcome(
        payment_id=payment.id,
        amount=common_pb2.Money(amount_minor=payment.amount_minor, currency=payment.currency),
        invoice_ids=[a.invoice_id for a in payment.allocations],
        failure_reason=failure_reason,
    )


async def estimate_sent(session: AsyncSession, estimate: Estimate) -> str:
    message = events_pb2.EstimateSent(
        estimate_id=estimate.id, number=estimate.number, contact_id=estimate.contact_id or ""
    )
    return await add_event(session, ESTIMATE_SENT, message, customer_id=estimate.customer_id)


async def estimate_decided(session: AsyncSession, estimate: Estimate, *, status: str, decided_by: str) -> str:
    """estimate_approved or estimate_declined, after `status`."""
    message = events_pb2.EstimateDecided(
        estimate_id=estimate.id, number=estimate.number, status=status, decided_by=decided_by
    )
    subj = ESTIMATE_APPROVED if status == APPROVED else ESTIMATE_DECLINED
    return await add_event(session, subj, message, customer_id=estimate.customer_id)


async def payment_refunded(session: AsyncSession, payment: Payment, refund: Refund) -> str:
    message = events_pb2.PaymentRefunded(
        payment_id=payment.id,
        refund_id=refund.id,
        amount=common_pb2.Money(amount_minor=refund.amount_minor, currency=refund.currency),
        refunded_total=common_pb2.Money(amount_minor=payment.refunded_minor, currency=payment.currency),
        invoice_ids=[a.invoice_id for a in payment.allocations],
    )
    return await add_event(session, PAYMENT_REFUNDED, message, customer_id=payment.customer_id)
