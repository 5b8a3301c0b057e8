"""A processor's webhook finishing a payment (Stripe's payment_intent.succeeded / payment_failed). Never commits.

The event names the charge by billing's own idempotency key (`portal-payment-<payment id>`, kept in the
PaymentIntent's metadata), so the payment is found without trusting anything but the signed event. It is finished
with `finish_payment`, whose update is conditional on the payment being pending: the webhook and the payment's
own call (or the reconciler) record it once, whichever comes first.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.payments.models import PENDING, Payment
from billing.payments.processor import ProcessorEvent
from billing.payments.service import finish_payment

log = logging.getLogger(__name__)

KEY_PREFIX = "portal-payment-"
RECORDED, ALREADY_RECORDED, IGNORED = "recorded", "already_recorded", "ignored"


async def finish_from_event(session: AsyncSession, event: ProcessorEvent) -> tuple[str, Payment | None]:
    """The outcome, and the payment when this event recorded it."""
    charge = event.charge
    if charge is None or not event.idempotency_key.startswith(KEY_PREFIX):
        return IGNORED, None
    payment_id = event.idempotency_key.removeprefix(KEY_PREFIX)
    payment = await session.scalar(select(Payment).where(Payment.id == payment_id))
    if payment is None:
        # Another deployment's payment on the same Stripe account, or one whose row is gone: not ours to record.
        log.warning("processor event for no known payment", extra={"event_id": event.id})
        return IGNORED, None
    if payment.status != PENDING:
        return ALREADY_RECORDED, None
    if charge.amount_minor != payment.amount_minor or charge.currency.upper() != payment.currency.upper():
        log.warning(
            "processor event does not match its payment's amount; left for the reconciler",
            extra={"event_id": event.id, "payment_id": payment.id},
        )
        return IGNORED, None
    payment, recorded = await finish_payment(session, payment_id=payment.id, charge=charge)
    return (RECORDED, payment) if recorded else (ALREADY_RECORDED, None)
