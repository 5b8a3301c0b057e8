"""Global portal settings. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.access import require_staff
from identity.audit.service import record
from identity.db import utcnow
from identity.settings.models import PortalSetting
from servicekit.principal import Principal, require_admin

ALWAYS_INVITE = "always_invite_new_customers"


async def always_invite(s: AsyncSession) -> bool:
    row = await s.get(PortalSetting, ALWAYS_INVITE)
    return bool(row and row.value.get("on"))


async def read_always_invite(s: AsyncSession, *, principal: Principal) -> bool:
    """The "always invite new customers" setting, as staff read it (staff only)."""
    require_staff(principal)
    return await always_invite(s)


async def set_always_invite(s: AsyncSession, *, principal: Principal, on: bool) -> None:
    require_admin(principal, "change the portal settings")
    row = await s.get(PortalSetting, ALWAYS_INVITE)
    if row is None:
        s.add(PortalSetting(key=ALWAYS_INVITE, value={"on": on}))
    else:
        row.value = {"on": on}
    await record(
        s,
        kind="setting_changed",
        subject=f"setting:{ALWAYS_INVITE}",
        at=utcnow(),
        detail={"by": principal.subject_id, "on": on},
    )
