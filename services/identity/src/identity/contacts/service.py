"""Contacts of a customer. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity import idempotency, validation
from identity.access import caller_scope, require_staff
from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.db import new_id
from servicekit.errors import NotFound
from servicekit.principal import Principal


async def create_contact(
    s: AsyncSession, *, principal: Principal, customer_id: str, name: str, email: str, idempotency_key: str = ""
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
    contact = Contact(id=new_id(), customer_id=customer_id, name=name, email=email, email_key=validation.key(email))
    await idempotency.claim(s, scope=scope, key=key, resource_id=contact.id)
    s.add(contact)
    await s.flush()
    return contact


async def get_contact(s: AsyncSession, *, contact_id: str) -> Contact:
    """One contact by id."""
    contact = await s.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact", field="contact_id")
    return contact
