"""Support window (SPEC P7): a contact's portal access works only between its support start and end dates, and
from N days before the end date the portal shows a renewal notice. Functions never commit."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from identity.access import require_staff
from identity.audit.service import record
from identity.contacts.models import Contact
from identity.db import utcnow
from identity.events import publish
from identity.portal_controls.service import get_controls
from servicekit.errors import InvalidArgument, NotFound
from servicekit.principal import KIND_PORTAL_USER, Principal

SUPPORT_WINDOW_FIELD = "support_window"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def today() -> date:
    """Support dates are calendar days in UTC: a window ending on the 30th works until 23:59:59 UTC that day."""
    return utcnow().date()


def refusal(contact: Contact | None, on: date) -> str:
    """Why the contact's portal access is closed on `on` ("" when open). The gateway shows it on the sign-in page."""
    if contact is None:
        return ""
    if contact.support_start is not None and on < contact.support_start:
        return f"your portal access starts on {contact.support_start.isoformat()}"
    if contact.support_end is not None and on > contact.support_end:
        return f"your support period ended on {contact.support_end.isoformat()}"
    return ""


def renewal_notice(contact: Contact | None, on: date, notice_days: int) -> date | None:
    """The end date while the renewal notice should show: from `notice_days` before it until it passes."""
    if contact is None or contact.support_end is None or notice_days <= 0:
        return None
    if contact.support_end - timedelta(days=notice_days) <= on <= contact.support_end:
        return contact.support_end
    return None


def parse_day(value: str, *, field: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    if not _DATE.match(value):
        raise InvalidArgument("a date as YYYY-MM-DD, or empty for none", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{value} is not a calendar date", field=field) from None


async def set_support_window(
    s: AsyncSession, *, principal: Principal, contact_id: str, start: str, end: str
) -> Contact:
    """Staff set (or clear) a contact's support start and end dates; they take effect at the next sign-in and at the
    next resolve of a live session (within seconds)."""
    require_staff(principal)
    contact = await s.get(Contact, contact_id) if contact_id and len(contact_id) <= 36 else None
    if contact is None:
        raise NotFound("no such contact", field="contact_id")
    first, last = parse_day(start, field="support_start"), parse_day(end, field="support_end")
    if first is not None and last is not None and first > last:
        raise InvalidArgument("the support end date is before its start date", field="support_end")
    contact.support_start, contact.support_end = first, last
    await publish.contacts_changed(s, contact)
    # The contact's users' live sessions are refused, or shown the renewal notice, at once (issue 16).
    await publish.sessions_changed(s, "contact", customer_ids=[contact.customer_id])
    await record(
        s,
        kind="support_window_changed",
        subject=f"contact:{contact.id}",
        at=utcnow(),
        detail={"by": principal.subject_id, "start": start.strip(), "end": end.strip()},
    )
    return contact


async def renewal_notice_ends_on(s: AsyncSession, principal: Principal) -> str:
    """The contact's support end date while the renewal notice should show (SPEC P7), else ""."""
    if principal.kind != KIND_PORTAL_USER or not principal.contact_id:
        return ""
    days = (await get_controls(s)).renewal_notice_days
    if days <= 0:
        return ""
    ends = renewal_notice(await s.get(Contact, principal.contact_id), today(), days)
    return ends.isoformat() if ends else ""
