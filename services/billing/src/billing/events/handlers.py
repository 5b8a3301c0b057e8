"""The handlers of the events billing consumes (durable, idempotent on event id through the inbox):

- identity's customer_updated: the customer's tax rate or tax-free and invoice terms (SPEC C3) become the settings
  invoices use (B9); identity is their only source.
- identity's customer_deleted: those settings go.
"""

from __future__ import annotations

import logging
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession

from billing.customers import service as customers
from portal.identity.v1 import events_pb2 as identity_events_pb2
from servicekit.db import Database
from servicekit.events import Consumer, subject
from servicekit.metrics import KitMetrics

log = logging.getLogger(__name__)

CUSTOMER_UPDATED = subject("identity", "customer_updated")
CUSTOMER_DELETED = subject("identity", "customer_deleted")
CUSTOMER_UPDATED_CONSUMER = "billing-customer-updated"
CUSTOMER_DELETED_CONSUMER = "billing-customer-deleted"


async def on_customer_updated(s: AsyncSession, event: identity_events_pb2.CustomerUpdated, event_id: str) -> None:
    """Identity changed a customer: keep its tax rate, tax-free flag and terms, unless a later change is applied."""
    if not event.customer_id or not event.meta.HasField("occurred_at"):
        log.warning("customer_updated event %s has no customer or time; skipped", event_id)
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
        log.info("customer_updated event %s is older than the settings applied; ignored", event_id)


async def on_customer_deleted(s: AsyncSession, event: identity_events_pb2.CustomerDeleted, event_id: str) -> None:
    """Identity deleted a customer: its billing settings go with it."""
    if event.customer_id:
        await customers.forget_settings(s, customer_id=event.customer_id)


def consumers(*, db: Database, metrics: KitMetrics) -> list[Consumer]:
    """The durable, inbox-idempotent consumers the billing service runs."""
    handlers = {
        CUSTOMER_UPDATED_CONSUMER: (CUSTOMER_UPDATED, identity_events_pb2.CustomerUpdated, on_customer_updated),
        CUSTOMER_DELETED_CONSUMER: (CUSTOMER_DELETED, identity_events_pb2.CustomerDeleted, on_customer_deleted),
    }
    return [
        Consumer(name=name, subject=subj, message=message, handler=handler, db=db, metrics=metrics)
        for name, (subj, message, handler) in handlers.items()
    ]
