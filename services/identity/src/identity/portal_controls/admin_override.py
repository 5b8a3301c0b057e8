"""Admin override (SPEC P9): a contact's portal user gets the main customer's full view.

What widens is the scope only: wherever the user's group lets it see a kind of record ("X - View Mine"), it
sees every record of the customer and its subsidiaries ("X - View All"), as the customer's own admin user does.
Nothing else changes: no permission the group lacks (paying, running scripts, managing privacy, ...) and no
customer beyond the user's own customer and its subsidiaries."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.access import require_staff
from identity.audit.service import record
from identity.db import utcnow
from identity.events import publish
from identity.users.models import PortalUser
from servicekit import permissions as perm
from servicekit.errors import FailedPrecondition, NotFound
from servicekit.principal import Principal

# Each "View Mine" and the "View All" it becomes under the override.
MINE_TO_ALL = {
    perm.TICKETS_VIEW_MINE: perm.TICKETS_VIEW_ALL,
    perm.INVOICES_VIEW_MINE: perm.INVOICES_VIEW_ALL,
    perm.PAYMENTS_VIEW_MINE: perm.PAYMENTS_VIEW_ALL,
    perm.ESTIMATES_VIEW_MINE: perm.ESTIMATES_VIEW_ALL,
    perm.ASSETS_VIEW_MINE: perm.ASSETS_VIEW_ALL,
    perm.CREDENTIALS_VIEW_MINE: perm.CREDENTIALS_VIEW_ALL,
}


def widen(permissions: frozenset[str]) -> frozenset[str]:
    """The group's permissions with every View Mine also granting View All."""
    return permissions | {MINE_TO_ALL[p] for p in permissions if p in MINE_TO_ALL}


async def set_admin_override(s: AsyncSession, *, principal: Principal, portal_user_id: str, on: bool) -> PortalUser:
    """Staff give (or take back) a contact's portal user the main customer's full view; live sessions get it at their
    next resolve."""
    require_staff(principal)
    user = await s.get(PortalUser, portal_user_id) if portal_user_id and len(portal_user_id) <= 36 else None
    if user is None:
        raise NotFound("no such portal user", field="portal_user_id")
    if on and not user.contact_id:
        raise FailedPrecondition(
            "this is the customer's own portal user; the admin override is for a contact's user", field="portal_user_id"
        )
    user.admin_override = on
    await publish.sessions_changed(s, "user", user_ids=[user.id])
    await record(
        s,
        kind="admin_override_changed",
        subject=f"portal_user:{user.id}",
        at=utcnow(),
        detail={"by": principal.subject_id, "on": on},
    )
    return user
