"""Billing's own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once.

The series below exist from the start, at 0, so the dashboards' payment panels and the PortalPaymentFailures
alert watch a real (quiet) series rather than a missing one. Whoever records a payment's outcome (the request
path or the reconciler) counts it once, with `count_payment`.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import Counter

SUCCEEDED = "succeeded"
FAILED = "failed"
OUTCOMES = (SUCCEEDED, FAILED)
# Invoices carry their own currency and billing has no configured one; amounts in other currencies get their
# series with their first payment.
PREINITIALISED_CURRENCIES = ("USD",)

PAYMENTS = Counter("portal_billing_payments", "Payments attempted, by outcome", ["outcome"])
PAYMENT_AMOUNT_MINOR = Counter(
    "portal_billing_payment_amount_minor",
    "Sum of attempted payments' amounts in minor units, by outcome and ISO 4217 currency",
    ["outcome", "currency"],
)

# What the reconciler did (payments/reconciler.py): recorded, voided, refunded (a late charge of a voided
# payment), refunds_finished (a pending refund sent again), unreachable (the processor could not be asked).
RECONCILED = Counter("portal_billing_reconciled", "Pending payments and refunds the reconciler ended", ["action"])
RECONCILER_ACTIONS = ("recorded", "voided", "refunded", "refunds_finished", "unreachable")


class _Outcome(Protocol):
    status: str
    currency: str
    amount_minor: int


def count_payment(payment: _Outcome) -> None:
    """Count a payment once, when its outcome is recorded."""
    outcome = SUCCEEDED if payment.status == SUCCEEDED else FAILED
    PAYMENTS.labels(outcome).inc()
    PAYMENT_AMOUNT_MINOR.labels(outcome, payment.currency).inc(payment.amount_minor)


for _action in RECONCILER_ACTIONS:
    RECONCILED.labels(_action)
for _outcome in OUTCOMES:
    PAYMENTS.labels(_outcome)
    for _currency in PREINITIALISED_CURRENCIES:
        PAYMENT_AMOUNT_MINOR.labels(_outcome, _currency)
