"""Permission groups (SPEC P5). The two built-in groups are created by the first migration and never change.

Functions never commit; the caller's unit of work does."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity import validation
from identity.access import require_staff
from identity.audit import models as audit_kinds
from identity.audit.service import record
from identity.db import utcnow
from identity.events import publish
from identity.groups.models import PermissionGroup
from identity.users.models import PortalUser
from servicekit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from servicekit.permissions import ADMIN_PORTAL_GROUP, BUILT_IN_GROUPS, CATALOGUE
from servicekit.principal import Principal, require_admin

MAX_GROUP_NAME = 100


GROUPS = "edit permission groups"


async def group_by_name(s: AsyncSession, *, name: str) -> PermissionGroup:
    """The group called `name`; the Admin Portal Group when `name` is empty."""
    name = name.strip() or ADMIN_PORTAL_GROUP
    group = await s.scalar(select(PermissionGroup).where(PermissionGroup.name == name))
    if group is None:
        raise InvalidArgument(f"there is no permission group called {name!r}", field="group_name")
    return group


def _permissions(values: list[str]) -> list[str]:
    """Catalogue names, deduplicated and sorted; an unknown name is an error naming it."""
    unknown = sorted({v for v in values if v not in CATALOGUE})
    if unknown:
        raise InvalidArgument(f"not in the permission catalogue: {', '.join(unknown[:5])}", field="permissions")
    return sorted(set(values))


async def _name(s: AsyncSession, name: str, *, except_id: str = "") -> str:
    name = validation.text(name, field="name", max_length=MAX_GROUP_NAME, required=True, what="a group name")
    clash = await s.scalar(select(PermissionGroup.id).where(func.lower(PermissionGroup.name) == name.lower()))
    if clash is not None and clash != except_id:
        raise AlreadyExists("another permission group already has this name", field="name")
    return name


async def member_counts(s: AsyncSession) -> dict[str, int]:
    rows = await s.execute(select(PortalUser.group_id, func.count()).group_by(PortalUser.group_id))
    return {group_id: count for group_id, count in rows.all()}


async def list_groups(s: AsyncSession, *, principal: Principal) -> list[PermissionGroup]:
    """Every group, built-in ones first, then by name (staff only)."""
    require_staff(principal)
    rows = (await s.scalars(select(PermissionGroup))).all()
    return sorted(rows, key=lambda g: (not g.built_in, g.name.lower()))


async def _get(s: AsyncSession, group_id: str) -> PermissionGroup:
    group = await s.get(PermissionGroup, group_id) if group_id and len(group_id) <= 36 else None
    if group is None:
        raise NotFound("no such permission group", field="group_id")
    return group


async def create_group(
    s: AsyncSession, *, principal: Principal, name: str, permissions: list[str], address: str = ""
) -> PermissionGroup:
    """A new group holding catalogue permissions (admins only, SPEC S1)."""
    require_admin(principal, GROUPS)
    group = PermissionGroup(name=await _name(s, name), permissions=_permissions(permissions), built_in=False)
    s.add(group)
    await s.flush()
    await _audit(s, principal, audit_kinds.GROUP_CREATED, group, address)
    return group


async def update_group(
    s: AsyncSession, *, principal: Principal, group_id: str, name: str, permissions: list[str], address: str = ""
) -> PermissionGroup:
    """Rename a group and replace its permissions (admins only); the built-in groups are fixed."""
    require_admin(principal, GROUPS)
    group = await _get(s, group_id)
    if group.built_in or group.name in BUILT_IN_GROUPS:
        raise FailedPrecondition("the built-in groups cannot be changed; create a group of your own")
    group.name = await _name(s, name, except_id=group.id)
    group.permissions = _permissions(permissions)
    await s.flush()
    members = (await s.scalars(select(PortalUser.id).where(PortalUser.group_id == group.id))).all()
    await publish.sessions_changed(s, "group", user_ids=members)
    await _audit(s, principal, audit_kinds.GROUP_UPDATED, group, address)
    return group


async def delete_group(s: AsyncSession, *, principal: Principal, group_id: str, address: str = "") -> None:
    """Delete a group that is neither built in nor anyone's (admins only): every portal user keeps a group."""
    require_admin(principal, GROUPS)
    group = await _get(s, group_id)
    if group.built_in or group.name in BUILT_IN_GROUPS:
        raise FailedPrecondition("the built-in groups cannot be deleted")
    members = await s.scalar(select(func.count()).select_from(PortalUser).where(PortalUser.group_id == group.id))
    if members:
        raise FailedPrecondition(f"{members} portal user(s) are in this group; move them to another group first")
    await _audit(s, principal, audit_kinds.GROUP_DELETED, group, address)
    await s.delete(group)
    await s.flush()


async def _audit(s: AsyncSession, principal: Principal, kind: str, group: PermissionGroup, address: str) -> None:
    await record(
        s,
        kind=kind,
        subject=f"group:{group.id}",
        address=address,
        at=utcnow(),
        detail={"by": principal.subject_id, "name": group.name, "permissions": list(group.permissions)},
    )
