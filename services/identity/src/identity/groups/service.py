"""Permission groups. The two built-in groups are created by the first migration."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.groups.models import PermissionGroup
from servicekit.errors import InvalidArgument
from servicekit.permissions import ADMIN_PORTAL_GROUP


async def group_by_name(s: AsyncSession, *, name: str) -> PermissionGroup:
    """The group called `name`; the Admin Portal Group when `name` is empty."""
    name = name.strip() or ADMIN_PORTAL_GROUP
    group = await s.scalar(select(PermissionGroup).where(PermissionGroup.name == name))
    if group is None:
        raise InvalidArgument(f"there is no permission group called {name!r}", field="group_name")
    return group
