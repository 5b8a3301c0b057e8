"""Contacts: proto ⇄ domain only (a contact's support window is set by portal_controls' SetSupportWindow)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.contacts import service as contacts
from identity.contacts.protos import contact_to_proto
from identity.passwords import service as passwords
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class ContactRpcs(Rpcs):
    async def CreateContact(self, request: identity_pb2.CreateContactRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreateContactResponse:
            contact = await contacts.create_contact(
                s,
                principal=principal,
                customer_id=request.customer_id,
                name=request.name,
                email=request.email,
                idempotency_key=request.idempotency_key,
                phone=request.phone,
                title=request.title,
            )
            await passwords.invite_if_always(
                s,
                principal=principal,
                customer_id=contact.customer_id,
                contact_id=contact.id,
                email=contact.email,
                portal_url=self.portal_url,
                box=self.box,
            )
            return identity_pb2.CreateContactResponse(contact=contact_to_proto(contact))

        return await self._write(work)

    async def ListContacts(self, request: identity_pb2.ListContactsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await contacts.list_contacts(s, principal=principal, customer_id=request.customer_id)
            if principal.is_staff:
                return identity_pb2.ListContactsResponse(contacts=[contact_to_proto(c) for c in rows])
            # A customer's user picks a contact by name; their addresses and phones stay with staff.
            return identity_pb2.ListContactsResponse(
                contacts=[identity_pb2.Contact(id=c.id, customer_id=c.customer_id, name=c.name) for c in rows]
            )

    async def UpdateContact(self, request: identity_pb2.UpdateContactRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            contact = await contacts.update_contact(
                s,
                principal=principal,
                contact_id=request.contact_id,
                name=request.name,
                email=request.email,
                phone=request.phone,
                title=request.title,
            )
            return identity_pb2.UpdateContactResponse(contact=contact_to_proto(contact))
