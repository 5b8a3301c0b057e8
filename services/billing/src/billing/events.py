"""The events billing publishes (messages in portal/billing/v1/events.proto), written to the outbox in the
unit of work of the change they report. Billing consumes no events yet.

- invoice_created: staff made an invoice (ticket_id set when it bills a ticket, for the tickets' marker).
- invoice_paid: an invoice's balance reached zero.
- payment_succeeded / payment_failed: the outcome of a payment, once per payment (never per retry).
- estimate_approved / estimate_declined: the customer's (or staff's) decision, once per estimate.
"""

from __future__ import annotations

from servicekit.events import subject

INVOICE_CREATED = subject("billing", "invoice_created")
INVOICE_PAID = subject("billing", "invoice_paid")
PAYMENT_SUCCEEDED = subject("billing", "payment_succeeded")
PAYMENT_FAILED = subject("billing", "payment_failed")
ESTIMATE_APPROVED = subject("billing", "estimate_approved")
ESTIMATE_DECLINED = subject("billing", "estimate_declined")
