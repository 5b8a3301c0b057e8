"""Portal users: creating one and moving it to another group. Proto ⇄ domain only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.passwords import service as passwords
from identity.rpcs import Rpcs
from identity.users import service as users
from identity.users.protos import portal_user_to_proto
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class PortalUserRpcs(Rpcs):
    async def CreatePortalUser(self, request: identity_pb2.CreatePortalUserRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.CreatePortalUserResponse:
            user, group = await users.create_portal_user(
                s,
                principal=principal,
                customer_id=request.customer_id,
                contact_id=request.contact_id,
                login=request.login,
                email=request.email,
                password=request.password,
                group_name=request.group_name,
                require_mfa=request.require_mfa,
            )
            await passwords.invite_new_user(
                s, user=user, password=request.password, portal_url=self.portal_url, box=self.box
            )
            return identity_pb2.CreatePortalUserResponse(portal_user=portal_user_to_proto(user, group))

        return await self._write(work)

    async def SetPortalUserGroup(self, request: identity_pb2.SetPortalUserGroupRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            user, group = await users.set_portal_user_group(
                s, principal=principal, portal_user_id=request.portal_user_id, group_name=request.group_name
            )
            return identity_pb2.SetPortalUserGroupResponse(portal_user=portal_user_to_proto(user, group))

    async def ListPortalUsers(self, request: identity_pb2.ListPortalUsersRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            rows = await users.list_portal_users(s, principal=principal, customer_id=request.customer_id)
            out = []
            for user, group, mfa_enabled in rows:
                message = portal_user_to_proto(user, group)
                message.require_mfa = user.require_mfa
                message.mfa_enabled = mfa_enabled
                message.invitation_pending = user.password_hash is None
                out.append(message)
            return identity_pb2.ListPortalUsersResponse(portal_users=out)
