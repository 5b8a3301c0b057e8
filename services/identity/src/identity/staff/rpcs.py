"""Staff accounts (SPEC S1): the admin-only team RPCs and the public invitation ones. Proto ⇄ domain only."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.rpcs import Rpcs
from identity.staff import service as staff
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


def staff_to_proto(view: staff.StaffView) -> identity_pb2.StaffUser:
    u = view.user
    return identity_pb2.StaffUser(
        id=u.id,
        login=u.login,
        email=u.email,
        name=u.name,
        role=u.role,
        active=u.disabled_at is None,
        mfa_enabled=view.mfa_enabled,
        invitation_pending=view.invitation_pending,
    )


class StaffRpcs(Rpcs):
    async def ListStaffDirectory(self, request: identity_pb2.ListStaffDirectoryRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            people = await staff.directory(s, principal=principal)
            return identity_pb2.ListStaffDirectoryResponse(
                staff=[identity_pb2.StaffDirectoryEntry(id=u.id, name=u.name or u.login) for u in people]
            )

    async def ListStaffUsers(self, request: identity_pb2.ListStaffUsersRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            views = await staff.list_staff(s, principal=principal)
            return identity_pb2.ListStaffUsersResponse(staff_users=[staff_to_proto(v) for v in views])

    async def InviteStaffUser(self, request: identity_pb2.InviteStaffUserRequest, context):  # noqa: N802, ANN001
        principal = current_principal()

        async def work(s: AsyncSession) -> identity_pb2.InviteStaffUserResponse:
            view = await staff.invite(
                s,
                principal=principal,
                email=request.email,
                name=request.name,
                role_name=request.role,
                staff_url=self.portal_url,
                idempotency_key=request.idempotency_key,
                language=request.language or "en",
                box=self.box,
            )
            return identity_pb2.InviteStaffUserResponse(staff_user=staff_to_proto(view))

        return await self._write(work)

    async def ResendStaffInvitation(self, request: identity_pb2.ResendStaffInvitationRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            view = await staff.reinvite(
                s,
                principal=principal,
                staff_user_id=request.staff_user_id,
                staff_url=self.portal_url,
                language=request.language or "en",
                box=self.box,
            )
            return identity_pb2.ResendStaffInvitationResponse(staff_user=staff_to_proto(view))

    async def SetStaffRole(self, request: identity_pb2.SetStaffRoleRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            view = await staff.set_role(
                s, principal=principal, staff_user_id=request.staff_user_id, role_name=request.role
            )
            return identity_pb2.SetStaffRoleResponse(staff_user=staff_to_proto(view))

    async def SetStaffActive(self, request: identity_pb2.SetStaffActiveRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            view = await staff.set_active(
                s, principal=principal, staff_user_id=request.staff_user_id, active=request.active
            )
            return identity_pb2.SetStaffActiveResponse(staff_user=staff_to_proto(view))

    async def ResetStaffMfa(self, request: identity_pb2.ResetStaffMfaRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            view = await staff.reset_mfa(s, principal=principal, staff_user_id=request.staff_user_id)
            return identity_pb2.ResetStaffMfaResponse(staff_user=staff_to_proto(view))

    async def CheckStaffInvitation(self, request: identity_pb2.CheckStaffInvitationRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            user = await staff.check_invitation(s, token=request.token)
            return identity_pb2.CheckStaffInvitationResponse(login=user.login)

    async def AcceptStaffInvitation(self, request: identity_pb2.AcceptStaffInvitationRequest, context):  # noqa: N802, ANN001
        user = await staff.accept_invitation(
            self.db, token=request.token, new_password=request.new_password, client_address=request.client_address
        )
        return identity_pb2.AcceptStaffInvitationResponse(login=user.login)
