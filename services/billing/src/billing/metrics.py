"""Billing's own Prometheus metrics (the kit declares the gRPC, outbox and consumer ones), each declared once.

Billing takes no payments yet. The series below exist from the start, at 0, so the dashboards' payment panels
and the PortalPaymentFailures alert watch a real (quiet) series rather than a missing one. The code that takes
a payment increments both counters with the same outcome.
"""

from __future__ import annotations

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

for _outcome in OUTCOMES:
    PAYMENTS.labels(_outcome)
    for _currency in PREINITIALISED_CURRENCIES:
        PAYMENT_AMOUNT_MINOR.labels(_outcome, _currency)
