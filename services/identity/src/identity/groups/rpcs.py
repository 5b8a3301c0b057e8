"""Permission groups (SPEC P5): proto ⇄ domain only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.groups import service as groups
from identity.groups.protos import group_to_proto
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class GroupRpcs(Rpcs):
    async def ListPermissionGroups(self, request: identity_pb2.ListPermissionGroupsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await groups.list_groups(s, principal=principal)
            counts = await groups.member_counts(s)
            return identity_pb2.ListPermissionGroupsResponse(
                groups=[group_to_proto(g, counts.get(g.id, 0)) for g in rows]
            )

    async def CreatePermissionGroup(self, request: identity_pb2.CreatePermissionGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreatePermissionGroupResponse:
            group = await groups.create_group(
                s, principal=principal, name=request.name, permissions=list(request.permissions)
            )
            return identity_pb2.CreatePermissionGroupResponse(group=group_to_proto(group))

        return await self._write(work)

    async def UpdatePermissionGroup(self, request: identity_pb2.UpdatePermissionGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.UpdatePermissionGroupResponse:
            group = await groups.update_group(
                s,
                principal=principal,
                group_id=request.group_id,
                name=request.name,
                permissions=list(request.permissions),
            )
            counts = await groups.member_counts(s)
            return identity_pb2.UpdatePermissionGroupResponse(group=group_to_proto(group, counts.get(group.id, 0)))

        return await self._write(work)

    async def DeletePermissionGroup(self, request: identity_pb2.DeletePermissionGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await groups.delete_group(s, principal=principal, group_id=request.group_id)
        return identity_pb2.DeletePermissionGroupResponse()
