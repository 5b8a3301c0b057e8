"""The reconciler: every payment left pending — billing crashed or timed out while its charge was at the
processor — ends recorded exactly once, or voided with any charge that still turns up refunded.

A pass (`Reconciler.run_once`, run at start and then every `BILLING_RECONCILE_INTERVAL_SECONDS` on every replica):

1. Each processor payment pending for longer than `BILLING_RECONCILE_AFTER_SECONDS` (more than the processor
   timeout, so no live request is still waiting on its own charge) is looked up at the processor by its
   idempotency key (`portal-payment-<id>`). A charge there is recorded with `finish_payment` — the same
   conditional update from pending the request path uses, so a retry and the reconciler record it once between
   them. No charge: the payment is voided (`void_payment`, also conditional) and its hold on the invoices ends.
2. A payment voided within `BILLING_RECONCILE_RECHECK_SECONDS` is looked up again: a charge that landed after the
   void (a processor that answered very late, or a same-key retry racing the void) is refunded in full — one
   `refunds` row per voided payment, made under the payment's row lock, sent with `portal-refund-<refund id>`.
3. A refund left pending (a crash between writing it and the processor's answer) is sent again with its key.

Every step is idempotent at the processor and conditional in the database, so two replicas reconciling at once,
or a pass interrupted by another crash, change nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from billing import metrics
from billing.db import utcnow
from billing.payments import service as payments
from billing.payments import staff
from billing.payments.models import PENDING, VOIDED, Payment, Refund
from billing.payments.processor import Charge, PaymentProcessor, ProcessorError, RefundRefused
from servicekit.db import Database

log = logging.getLogger(__name__)

RECONCILER = "reconciler"
VOID_REASON = "the payment processor never charged this payment"
LATE_CHARGE_REASON = "the charge reached the processor after its payment was voided"
BATCH = 100


@dataclass
class PassReport:
    recorded: int = 0
    voided: int = 0
    refunded: int = 0
    refunds_finished: int = 0
    unreachable: int = 0


class Reconciler:
    def __init__(
        self,
        db: Database,
        processor: PaymentProcessor,
        *,
        stale_after: float,
        recheck_for: float = 600.0,
    ) -> None:
        self.db = db
        self.processor = processor
        self.stale_after = timedelta(seconds=stale_after)
        self.recheck_for = timedelta(seconds=recheck_for)

    async def loop(self, interval: float) -> None:
        """Reconcile at start, then every `interval` seconds; a failed pass is logged and the next one tries."""
        while True:
            try:
                report = await self.run_once()
                if report != PassReport():
                    log.info("reconciled payments", extra=report.__dict__)
            except Exception:
                log.exception("reconciler pass failed")
            await asyncio.sleep(interval)

    async def run_once(self, now: datetime | None = None) -> PassReport:
        now = now or utcnow()
        report = PassReport()
        async with self.db.unit_of_work() as s:
            stale = list(
                await s.scalars(
                    select(Payment.id)
                    .where(
                        Payment.status == PENDING,
                        Payment.processor_token != "",
                        Payment.created_at < now - self.stale_after,
                    )
                    .order_by(Payment.created_at)
                    .limit(BATCH)
                )
            )
            voided = list(
                await s.scalars(
                    select(Payment.id)
                    .where(Payment.status == VOIDED, Payment.completed_at >= now - self.recheck_for)
                    .where(~select(Refund.id).where(Refund.payment_id == Payment.id).exists())
                    .limit(BATCH)
                )
            )
            refunds = list(
                await s.scalars(
                    select(Refund.id)
                    .where(Refund.status == PENDING, Refund.created_at < now - self.stale_after)
                    .limit(BATCH)
                )
            )
        for payment_id in stale:
            await self._count(report, self.settle(payment_id, now=now))
        for payment_id in voided:
            await self._count(report, self._recheck_voided(payment_id))
        for refund_id in refunds:
            await self._count(report, self._send_refund(refund_id))
        return report

    async def _count(self, report: PassReport, step) -> None:  # noqa: ANN001 - a coroutine giving an action
        try:
            action = await step
        except ProcessorError as exc:
            log.warning("processor unreachable while reconciling", extra={"error": str(exc)})
            action = "unreachable"
        if action:
            setattr(report, action, getattr(report, action) + 1)
            metrics.RECONCILED.labels(action).inc()

    async def settle(self, payment_id: str, *, now: datetime | None = None) -> str:
        """Ask the processor about one pending payment and end it if the answer allows: 'recorded', 'voided', or
        '' (not pending any more, or too recent to void). ProcessorError when the processor cannot be asked."""
        now = now or utcnow()
        async with self.db.unit_of_work() as s:
            payment = await s.get(Payment, payment_id)
            if payment is None or payment.status != PENDING:
                return ""
            key, created_at = payments.processor_key(payment), payment.created_at
        charge = await self.processor.find_charge(key)
        if charge is not None:
            async with self.db.unit_of_work() as s:
                payment, recorded = await payments.finish_payment(s, payment_id=payment_id, charge=charge)
            if recorded:
                metrics.count_payment(payment)
                return "recorded"
            return ""
        if created_at >= now - self.stale_after:
            return ""  # its request may still be waiting on the processor
        async with self.db.unit_of_work() as s:
            voided = await payments.void_payment(s, payment_id=payment_id, reason=VOID_REASON)
        return "voided" if voided else ""

    async def _recheck_voided(self, payment_id: str) -> str:
        async with self.db.unit_of_work() as s:
            payment = await s.get(Payment, payment_id)
            if payment is None or payment.status != VOIDED:
                return ""
            key = payments.processor_key(payment)
        charge = await self.processor.find_charge(key)
        if charge is None or not charge.succeeded:
            return ""
        return await self.refund_late_charge(payment_id, charge)

    async def refund_late_charge(self, payment_id: str, charge: Charge) -> str:
        """Give back a charge that reached the processor for a voided payment: one refund per payment, whichever
        replica or request finds the charge first (the payment's row is locked while the refund is written)."""
        async with self.db.unit_of_work() as s:
            payment = await s.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
            if payment is None or payment.status != VOIDED:
                return ""
            refund = await s.scalar(select(Refund).where(Refund.payment_id == payment_id))
            if refund is None:
                payment.charge_id = charge.id
                refund = Refund(
                    payment_id=payment_id,
                    status=PENDING,
                    amount_minor=charge.amount_minor,
                    currency=charge.currency or payment.currency,
                    reason=LATE_CHARGE_REASON,
                    failure_reason="",
                    created_by=RECONCILER,
                )
                s.add(refund)
                await s.flush()
            refund_id = refund.id
        action = await self._send_refund(refund_id)
        return "refunded" if action else ""

    async def _send_refund(self, refund_id: str) -> str:
        async with self.db.unit_of_work() as s:
            row = (
                await s.execute(
                    select(Refund, Payment.charge_id)
                    .join(Payment, Payment.id == Refund.payment_id)
                    .where(Refund.id == refund_id)
                )
            ).first()
            if row is None or row[0].status != PENDING or not row[1]:
                return ""
            refund, charge_id = row
            amount, currency, key = refund.amount_minor, refund.currency, staff.processor_key(refund)
        try:
            done = await self.processor.refund(
                charge_id=charge_id, amount_minor=amount, currency=currency, idempotency_key=key
            )
        except RefundRefused as exc:
            async with self.db.unit_of_work() as s:
                await staff.finish_refund(s, refund_id=refund_id, outcome=None, failure_reason=str(exc))
            log.error("processor refused a refund", extra={"refund_id": refund_id, "error": str(exc)})
            return ""
        async with self.db.unit_of_work() as s:
            _, _, finished = await staff.finish_refund(s, refund_id=refund_id, outcome=done)
        return "refunds_finished" if finished else ""
