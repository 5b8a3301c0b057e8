"""The events billing publishes (messages in portal/billing/v1/events.proto), written to the outbox in the
unit of work of the change they report, and the handlers of the events it consumes.

Published:
- invoice_created: staff made an invoice (ticket_id set when it bills a ticket, for the tickets' marker).
- invoice_paid: an invoice's balance reached zero.
- payment_succeeded / payment_failed: the outcome of a payment, once per payment (never per retry).
- estimate_approved / estimate_declined: the customer's (or staff's) decision, once per estimate.

Consumed (durable, idempotent on event id through the inbox):
- identity's customer_updated: the customer's tax rate or tax-free and invoice terms (SPEC C3) become the settings
  invoices use (B9); identity is their only source.
- identity's customer_deleted: those settings go.
"""

from __future__ import annotations

import logging
from datetime import UTC

from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers import service as customers
from portal.identity.v1 import events_pb2 as identity_events_pb2
from servicekit.db import Database
from servicekit.events import MSG_ID, Consumer, subject
from servicekit.metrics import KitMetrics

log = logging.getLogger(__name__)

INVOICE_CREATED = subject("billing", "invoice_created")
INVOICE_PAID = subject("billing", "invoice_paid")
PAYMENT_SUCCEEDED = subject("billing", "payment_succeeded")
PAYMENT_FAILED = subject("billing", "payment_failed")
ESTIMATE_APPROVED = subject("billing", "estimate_approved")
ESTIMATE_DECLINED = subject("billing", "estimate_declined")

CUSTOMER_UPDATED = subject("identity", "customer_updated")
CUSTOMER_DELETED = subject("identity", "customer_deleted")
CUSTOMER_UPDATED_CONSUMER = "billing-customer-updated"
CUSTOMER_DELETED_CONSUMER = "billing-customer-deleted"


async def on_customer_updated(s: AsyncSession, data: bytes, headers: dict[str, str]) -> None:
    """Identity changed a customer: keep its tax rate, tax-free flag and terms, unless a later change is applied."""
    try:
        event = identity_events_pb2.CustomerUpdated.FromString(data)
    except DecodeError:
        # A message that cannot be read would fail on every redelivery; the inbox records it as handled.
        log.warning("customer_updated event %s is not a CustomerUpdated message; skipped", headers.get(MSG_ID, "?"))
        return
    if not event.customer_id or not event.meta.HasField("occurred_at"):
        log.warning("customer_updated event %s has no customer or time; skipped", headers.get(MSG_ID, "?"))
        return
    applied = await customers.apply_identity_settings(
        s,
        customer_id=event.customer_id,
        tax_rate_bp=event.tax_rate_bp if event.HasField("tax_rate_bp") else None,
        tax_free=event.tax_free,
        terms_days=event.invoice_terms_days if event.HasField("invoice_terms_days") else None,
        occurred_at=event.meta.occurred_at.ToDatetime(tzinfo=UTC),
    )
    if not applied:
        log.info("customer_updated event %s is older than the settings applied; ignored", headers.get(MSG_ID, "?"))


async def on_customer_deleted(s: AsyncSession, data: bytes, headers: dict[str, str]) -> None:
    """Identity deleted a customer: its billing settings go with it."""
    try:
        event = identity_events_pb2.CustomerDeleted.FromString(data)
    except DecodeError:
        log.warning("customer_deleted event %s is not a CustomerDeleted message; skipped", headers.get(MSG_ID, "?"))
        return
    if event.customer_id:
        await customers.forget_settings(s, customer_id=event.customer_id)


def consumers(*, db: Database, metrics: KitMetrics) -> list[Consumer]:
    """The durable, inbox-idempotent consumers the billing service runs."""
    handlers = {
        CUSTOMER_UPDATED_CONSUMER: (CUSTOMER_UPDATED, on_customer_updated),
        CUSTOMER_DELETED_CONSUMER: (CUSTOMER_DELETED, on_customer_deleted),
    }
    return [
        Consumer(name=name, subject=subj, handler=handler, db=db, metrics=metrics)
        for name, (subj, handler) in handlers.items()
    ]
