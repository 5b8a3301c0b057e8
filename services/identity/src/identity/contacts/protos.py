"""Contacts as the proto carries them."""

from __future__ import annotations

from identity.contacts.models import Contact
from portal.identity.v1 import identity_pb2


def contact_window(c: Contact) -> dict[str, str]:
    return {
        "support_start": c.support_start.isoformat() if c.support_start else "",
        "support_end": c.support_end.isoformat() if c.support_end else "",
    }


def contact_to_proto(c: Contact) -> identity_pb2.Contact:
    return identity_pb2.Contact(
        id=c.id,
        customer_id=c.customer_id,
        name=c.name,
        email=c.email,
        phone=c.phone,
        title=c.title,
        **contact_window(c),
    )
