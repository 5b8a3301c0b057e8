"""The handlers of the events the remote service consumes (durable, idempotent on event id through the inbox):

- identity's customer_created and customer_updated: whether the customer has remote access enabled (SPEC C3),
  which a portal user's OpenRemoteSession needs; identity is its only source.
- identity's customer_deleted: the setting goes.
"""

from __future__ import annotations

import logging
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession

from portal.identity.v1 import events_pb2 as identity_events_pb2
from remote.customers import service as customers
from servicekit.db import Database
from servicekit.events import Consumer, subject
from servicekit.metrics import KitMetrics

log = logging.getLogger(__name__)

CUSTOMER_CREATED = subject("identity", "customer_created")
CUSTOMER_UPDATED = subject("identity", "customer_updated")
CUSTOMER_DELETED = subject("identity", "customer_deleted")


async def on_customer_created(s: AsyncSession, event: identity_events_pb2.CustomerCreated, event_id: str) -> None:
    if event.customer_id and event.meta.HasField("occurred_at"):
        await customers.apply(
            s,
            customer_id=event.customer_id,
            remote_access_enabled=None,
            occurred_at=event.meta.occurred_at.ToDatetime(tzinfo=UTC),
        )


async def on_customer_updated(s: AsyncSession, event: identity_events_pb2.CustomerUpdated, event_id: str) -> None:
    if not event.customer_id or not event.meta.HasField("occurred_at"):
        log.warning("customer_updated event %s has no customer or time; skipped", event_id)
        return
    applied = await customers.apply(
        s,
        customer_id=event.customer_id,
        remote_access_enabled=event.remote_access_enabled,
        occurred_at=event.meta.occurred_at.ToDatetime(tzinfo=UTC),
    )
    if not applied:
        log.info("customer_updated event %s is older than the setting applied; ignored", event_id)


async def on_customer_deleted(s: AsyncSession, event: identity_events_pb2.CustomerDeleted, event_id: str) -> None:
    if event.customer_id:
        await customers.forget(s, event.customer_id)


def consumers(*, db: Database, metrics: KitMetrics) -> list[Consumer]:
    """The durable, inbox-idempotent consumers the remote service runs."""
    handlers = {
        "remote-customer-created": (CUSTOMER_CREATED, identity_events_pb2.CustomerCreated, on_customer_created),
        "remote-customer-updated": (CUSTOMER_UPDATED, identity_events_pb2.CustomerUpdated, on_customer_updated),
        "remote-customer-deleted": (CUSTOMER_DELETED, identity_events_pb2.CustomerDeleted, on_customer_deleted),
    }
    return [
        Consumer(name=name, subject=subj, message=message, handler=handler, db=db, metrics=metrics)
        for name, (subj, message, handler) in handlers.items()
    ]
