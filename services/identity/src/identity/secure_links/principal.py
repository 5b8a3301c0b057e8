"""The principal of a session opened with a secure link (SPEC P6): the link's customer, its scope, and only
the permissions a link grants — read its tickets, comment on them and, unless it is a one-ticket link, open new
ones. Checked again at every ResolveSession, so a revoked or expired link stops working within seconds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers.models import Customer
from identity.secure_links.models import SCOPE_SITE, SCOPE_TICKET, SecureLink
from servicekit.errors import Unauthenticated
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from servicekit.principal import KIND_SECURE_LINK, Principal

SESSION_ENDED = "the session has ended; sign in again"


def link_permissions(scope: str) -> frozenset[str]:
    """A one-ticket link reads and comments on that ticket; a new ticket would be outside its scope. A site or
    customer link may also open tickets (on its site, for a site link)."""
    if scope == SCOPE_TICKET:
        return frozenset({TICKETS_VIEW_ALL})
    return frozenset({TICKETS_VIEW_ALL, TICKETS_CREATE})


def refusal(link: SecureLink, customer: Customer | None, now: datetime) -> str:
    """Why the link does not work now ('' when it does), as the audit log names it."""
    if link.revoked_at is not None:
        return "revoked"
    if now >= link.expires_at:
        return "expired"
    if customer is None or customer.archived_at is not None:
        return "archived"
    return ""


async def link_principal(s: AsyncSession, *, link_id: str, session_id: str, now: datetime) -> Principal:
    """The principal of a live link session; UNAUTHENTICATED once the link is revoked or expired."""
    link = await s.get(SecureLink, link_id)
    customer = await s.get(Customer, link.customer_id) if link is not None else None
    if link is None or customer is None or refusal(link, customer, now):
        raise Unauthenticated(SESSION_ENDED)
    return Principal(
        kind=KIND_SECURE_LINK,
        subject_id=link.id,
        customer_id=customer.id,
        # The link's own customer only: a parent's link does not reach its subsidiaries.
        customer_ids=(customer.id,),
        permissions=link_permissions(link.scope),
        display_name=customer.display_name,
        session_id=session_id,
        link_ticket_id=link.scope_id if link.scope == SCOPE_TICKET else "",
        link_site_id=link.scope_id if link.scope == SCOPE_SITE else "",
    )
