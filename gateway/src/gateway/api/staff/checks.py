"""What the staff JSON API checks with identity before a write names a customer or a contact (billing's invoices
and estimates, tickets opened by staff): the customer exists (identity owns customers; other services would take
any id), and the contact is one of its own. Failures are 400 problem details naming the field, or 404 when the
customer is in the path."""

from __future__ import annotations

import grpc
from fastapi import HTTPException, status

from gateway.clients import Backends
from gateway.clients.identity import ContactMessage


def bad_request(field: str, message: str) -> HTTPException:
    """A 400 whose problem details name the field ("field: message")."""
    return HTTPException(status.HTTP_400_BAD_REQUEST, f"{field}: {message}")


async def check_customer(
    backends: Backends, token: str, customer_id: str, *, contact_id: str = "", in_path: bool = False
) -> ContactMessage | None:
    """The customer exists, and the contact (when one is named) is its own; returns that contact, None when no
    contact is named. Another customer's contact and an unknown id are refused alike."""
    try:
        await backends.identity.get_customer_record(token, customer_id)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
        if in_path:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such customer") from None
        raise bad_request("customer_id", "no such customer") from None
    if not contact_id:
        return None
    for contact in await backends.identity.list_contacts(token, customer_id):
        if contact.id == contact_id:
            return contact
    raise bad_request("contact_id", "not a contact of this customer")
