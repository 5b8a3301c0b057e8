"""Who receives each kind of email (SPEC C3, P10, T7): the one place that decides. Every sender in identity asks
`recipients` and writes to exactly the addresses it answers, so a customer's email settings mean the same thing for
every email.

The rules, in the seed's words (001, "Customer settings") and how they are read here:

- **No email of any kind** "disables all email communication from being sent to this customer. This includes all
  contacts who belong to the customer." Every kind below answers nobody for such a customer: ticket emails, billing
  emails, and account emails too (invitations, password resets, login details), since the seed makes no exception.
  Only staff-side emails (a customer's comment to the assigned technician) still go out: they are the operator's own
  mail, not mail to the customer.
- **Ticket emails** (`Kind.TICKET`: ticket received, a staff member's public reply, ticket closed) go to the ticket's
  contact (when it is the customer's and has an email; else the customer's own email) and to every **additional
  notification email** ("will receive ticket-related emails"). **Receive report emails** off ("the top-level
  customer will receive all ticket correspondence emails" when on) stops them all: the switch is the customer's
  own choice (P10, from the portal), and issue 12 reads it as "report emails off stops ticket emails".
- **Billing emails** (`Kind.BILLING`: payment receipts; invoices once identity mails them) go to the same first
  recipient (the paying contact, else the customer's own email) and to every **invoice CC email** ("will receive
  notifications related to invoicing only"). **Receive billing emails** off stops them all.
- **Account emails** (`Kind.ACCOUNT`) go to the portal user's own address, and to nobody else: an invitation or a
  reset link is for that person only. Neither privacy switch applies (they are not reports or billing).
- **Device emails** (`Kind.DEVICES`: a technician asks for remote access to one of the customer's devices, issue
  14, X1) go to the customer's portal users who may see that device, enabled, with a password set and an email:
  those whose group has Assets - View All, and those with Assets - View Mine whose contact is the one the device is
  assigned to (`contact_id`, from remote's event; an unassigned device is in nobody's "Mine"). The email names the
  device, the technician and the reason, which a user who may not see the device must not learn. They are ticket
  correspondence about the customer's devices, so **no email of any kind** and **receive report emails** off stop
  them as they stop ticket emails.
- **Staff emails** (`Kind.STAFF`) go to the staff member named, whatever the customer's settings; never to a
  deactivated one.

Addresses are de-duplicated case-insensitively, the first spelling kept, so a contact who is also an additional
notification email gets one email. The outbox's UNIQUE(cause_event_id, template, recipient) then keeps each email to
one row per address, however often its event is redelivered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.groups.models import PermissionGroup
from identity.languages.service import chosen_for_email
from identity.users.models import PortalUser, StaffUser
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE


class Kind(StrEnum):
    TICKET = "ticket"
    BILLING = "billing"
    ACCOUNT = "account"
    STAFF = "staff"
    DEVICES = "devices"


class Role(StrEnum):
    """Why an address receives the email (tests and logs say which rule put it there)."""

    CONTACT = "contact"
    CUSTOMER = "customer"
    NOTIFICATION = "notification"
    INVOICE_CC = "invoice_cc"
    USER = "user"
    STAFF = "staff"


@dataclass(frozen=True)
class Recipient:
    email: str
    # Whom to greet: the contact, the customer (also for its additional and CC addresses), the user's login, the
    # staff member.
    name: str
    role: Role
    # SPEC H5: the language to write in: the recipient's own choice (a portal user with this address, a staff
    # member), else the customer's default; "" when neither is set (the sender's fallback, else English).
    language: str = ""


async def recipients(
    s: AsyncSession,
    customer_id: str | None,
    kind: Kind,
    *,
    contact_id: str = "",
    user_email: str = "",
    user_name: str = "",
    staff_id: str = "",
) -> list[Recipient]:
    """Who receives an email of `kind` about `customer_id` (empty: nobody). `contact_id` is the ticket's or the
    paying contact (ticket and billing kinds); `user_email` the portal user's own address (account kind);
    `staff_id` the staff member (staff kind); for the devices kind `contact_id` is the device's contact."""
    if kind is Kind.STAFF:
        staff = await s.get(StaffUser, staff_id) if staff_id else None
        # A deactivated staff member (SPEC S1) is emailed nothing more.
        if staff is None or not staff.email or staff.disabled_at is not None:
            return []
        return [Recipient(staff.email, staff.name, Role.STAFF, staff.language)]
    customer = await s.get(Customer, customer_id) if customer_id else None
    if customer is None or customer.no_email:
        return []
    if kind is Kind.ACCOUNT:
        found = [Recipient(user_email, user_name, Role.USER)] if user_email else []
        return await _with_languages(s, customer, found)
    if kind is Kind.DEVICES:
        if not customer.receive_report_emails:
            return []
        return await _with_languages(s, customer, _unique(await _asset_viewers(s, customer.id, contact_id)))
    if kind is Kind.TICKET:
        if not customer.receive_report_emails:
            return []
        extra, role = customer.notification_emails, Role.NOTIFICATION
    elif kind is Kind.BILLING:
        if not customer.receive_billing_emails:
            return []
        extra, role = customer.invoice_cc_emails, Role.INVOICE_CC
    else:  # pragma: no cover - every Kind is handled above
        raise ValueError(f"unknown kind of email: {kind}")
    first = await _first(s, customer, contact_id)
    found = [first] if first else []
    found += [Recipient(email, customer.display_name, role) for email in extra or () if email]
    return await _with_languages(s, customer, _unique(found))


async def _first(s: AsyncSession, customer: Customer, contact_id: str) -> Recipient | None:
    """The contact the email is about, when it is this customer's and has an email; else the customer itself."""
    if contact_id:
        contact = await s.scalar(select(Contact).where(Contact.id == contact_id, Contact.customer_id == customer.id))
        if contact is not None and contact.email:
            return Recipient(contact.email, contact.name, Role.CONTACT)
    return Recipient(customer.email, customer.display_name, Role.CUSTOMER) if customer.email else None


async def _asset_viewers(s: AsyncSession, customer_id: str, asset_contact_id: str) -> list[Recipient]:
    """The customer's enabled portal users with a password and an email whose group lets them see the asset: all of
    the customer's assets (View All), or their own contact's (View Mine) when it is `asset_contact_id`'s."""
    rows = await s.execute(
        select(PortalUser, PermissionGroup, Contact.name)
        .join(PermissionGroup, PermissionGroup.id == PortalUser.group_id)
        .outerjoin(Contact, Contact.id == PortalUser.contact_id)
        .where(
            PortalUser.customer_id == customer_id,
            PortalUser.disabled_at.is_(None),
            PortalUser.password_hash.is_not(None),
        )
        .order_by(PortalUser.created_at, PortalUser.id)
    )
    out = []
    for user, group, contact_name in rows.all():
        permissions = set(group.permissions or ())
        mine = ASSETS_VIEW_MINE in permissions and bool(asset_contact_id) and user.contact_id == asset_contact_id
        if user.email and (ASSETS_VIEW_ALL in permissions or mine):
            # Greeted as the contact the login belongs to; the customer's own login by its login.
            out.append(Recipient(user.email, contact_name or user.login, Role.USER))
    return out


def _unique(found: list[Recipient]) -> list[Recipient]:
    seen: set[str] = set()
    out = []
    for r in found:
        key = r.email.strip().lower()
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


async def _with_languages(s: AsyncSession, customer: Customer, found: list[Recipient]) -> list[Recipient]:
    """Each recipient with the language it reads (SPEC H5): its portal user's choice, else the customer's default."""
    return [replace(r, language=await chosen_for_email(s, r.email, customer)) for r in found]
