"""What identity publishes: the outbox events of customers, contacts and sent emails. Imports models only, so any
domain module may publish."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from identity.contacts.models import Contact
from identity.customers.models import Customer
from portal.identity.v1 import events_pb2
from servicekit.events import add_event, subject

CUSTOMER_CREATED = subject("identity", "customer_created")
CUSTOMER_UPDATED = subject("identity", "customer_updated")
CUSTOMER_DELETED = subject("identity", "customer_deleted")
EMAIL_SENT = subject("identity", "email_sent")
CONTACTS_CHANGED = subject("identity", "contacts_changed")


async def customer_created(s: AsyncSession, customer: Customer) -> None:
    await add_event(
        s,
        CUSTOMER_CREATED,
        events_pb2.CustomerCreated(customer_id=customer.id, display_name=customer.display_name),
        customer_id=customer.id,
    )


async def customer_updated(s: AsyncSession, customer: Customer) -> None:
    """The customer's name and the settings other services act on (tax, terms, email, remote access)."""
    await add_event(
        s,
        CUSTOMER_UPDATED,
        events_pb2.CustomerUpdated(
            customer_id=customer.id,
            display_name=customer.display_name,
            parent_id=customer.parent_id or "",
            tax_rate_bp=customer.tax_rate_bp,
            tax_free=customer.tax_free,
            invoice_terms_days=customer.invoice_terms_days,
            no_email=customer.no_email,
            remote_access_enabled=customer.remote_access_enabled,
            internal_ticket_warning=customer.internal_ticket_warning,
            archived=customer.archived_at is not None,
        ),
        customer_id=customer.id,
    )


async def customer_deleted(s: AsyncSession, customer_id: str) -> None:
    await add_event(s, CUSTOMER_DELETED, events_pb2.CustomerDeleted(customer_id=customer_id), customer_id=customer_id)


async def contacts_changed(s: AsyncSession, contact: Contact) -> None:
    """After every write to a contact, in its transaction: the gateways' read caches answer a customer's contact list
    from memory (issue 16) and learn of a change only through this event."""
    await add_event(
        s,
        CONTACTS_CHANGED,
        events_pb2.ContactsChanged(customer_id=contact.customer_id, contact_id=contact.id),
        customer_id=contact.customer_id,
    )


async def email_sent(s: AsyncSession, *, template: str, recipient: str, cause_event_id: str, customer_id: str) -> None:
    await add_event(
        s,
        EMAIL_SENT,
        events_pb2.EmailSent(template=template, recipient=recipient, cause_event_id=cause_event_id),
        customer_id=customer_id,
    )


SESSIONS_CHANGED = subject("identity", "sessions_changed")


async def sessions_changed(
    s: AsyncSession,
    reason: str,
    *,
    session_ids: Iterable[str] = (),
    user_ids: Iterable[str] = (),
    customer_ids: Iterable[str] = (),
    all_sessions: bool = False,
) -> None:
    """In the caller's transaction: every gateway replica drops the principals it caches for these sessions, users
    or customers (or all of them) as soon as the change commits (issue 16, docs/architecture.md "Sessions")."""
    event = events_pb2.SessionsChanged(
        reason=reason,
        session_ids=sorted(set(session_ids)),
        user_ids=sorted(set(user_ids)),
        customer_ids=sorted(set(customer_ids)),
        all_sessions=all_sessions,
    )
    if event.session_ids or event.user_ids or event.customer_ids or all_sessions:
        await add_event(s, SESSIONS_CHANGED, event)
