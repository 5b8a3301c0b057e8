"""Contacts of a customer. Functions never commit; the caller's unit of work does. Every write publishes
ContactsChanged in its transaction (the gateways cache contact lists, issue 16)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity import idempotency, validation
from identity.access import caller_scope, require_staff
from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.db import new_id
from identity.events import publish
from servicekit.errors import NotFound, PermissionDenied
from servicekit.permissions import TICKETS_VIEW_ALL
from servicekit.principal import Principal


async def create_contact(
    s: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    name: str,
    email: str,
    idempotency_key: str = "",
    phone: str = "",
    title: str = "",
) -> Contact:
    """Add a contact to a customer (staff only); a repeated idempotency key returns the first."""
    require_staff(principal)
    scope = caller_scope("create_contact", principal)
    key = idempotency.check_key(idempotency_key)
    if (earlier := await idempotency.earlier_result(s, scope=scope, key=key)) is not None:
        return await get_contact(s, contact_id=earlier)

    if not customer_id or await s.get(Customer, customer_id) is None:
        raise NotFound("no such customer", field="customer_id")
    name = validation.text(name, field="name", required=True, what="the contact's name")
    email = validation.email(email, required=False)
    contact = Contact(
        id=new_id(),
        customer_id=customer_id,
        name=name,
        email=email,
        email_key=validation.key(email),
        phone=validation.text(phone, field="phone", max_length=40),
        title=validation.text(title, field="title"),
    )
    await idempotency.claim(s, scope=scope, key=key, resource_id=contact.id)
    s.add(contact)
    await s.flush()
    await publish.contacts_changed(s, contact)
    return contact


async def get_contact(s: AsyncSession, *, contact_id: str) -> Contact:
    """One contact by id."""
    contact = await s.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact", field="contact_id")
    return contact


async def list_contacts(s: AsyncSession, *, principal: Principal, customer_id: str) -> list[Contact]:
    """A customer's contacts, oldest first: staff, for any customer; a portal user with Tickets - View All, for its
    own customer only (the new-ticket form's contact picker, SPEC T3 — the RPC then gives names, not addresses)."""
    if not principal.is_staff:
        if not principal.has(TICKETS_VIEW_ALL) or principal.link_ticket_id or principal.link_site_id:
            raise PermissionDenied("only staff and users who see all the customer's tickets can list its contacts")
        if customer_id not in ("", principal.customer_id):
            raise NotFound("no such customer", field="customer_id")
        customer_id = principal.customer_id
    if not customer_id or len(customer_id) > 36 or await s.get(Customer, customer_id) is None:
        raise NotFound("no such customer", field="customer_id")
    query = select(Contact).where(Contact.customer_id == customer_id).order_by(Contact.created_at, Contact.id)
    return list((await s.scalars(query)).all())


async def update_contact(
    s: AsyncSession, *, principal: Principal, contact_id: str, name: str, email: str, phone: str, title: str
) -> Contact:
    """Change a contact's name, email, phone and title (staff only); its email may be on other customers' contacts."""
    require_staff(principal)
    contact = await s.get(Contact, contact_id) if contact_id and len(contact_id) <= 36 else None
    if contact is None:
        raise NotFound("no such contact", field="contact_id")
    contact.name = validation.text(name, field="name", required=True, what="the contact's name")
    contact.email = validation.email(email, required=False)
    contact.email_key = validation.key(contact.email)
    contact.phone = validation.text(phone, field="phone", max_length=40)
    contact.title = validation.text(title, field="title")
    await s.flush()
    await publish.contacts_changed(s, contact)
    await publish.sessions_changed(s, "contact", customer_ids=[contact.customer_id])
    return contact
