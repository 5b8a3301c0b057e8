"""Password tokens and passwords (SPEC P2, P3): resets, invitations, login details, changes. Proto ⇄ domain only."""

from __future__ import annotations

from identity.passwords import service as passwords
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class PasswordRpcs(Rpcs):
    async def RequestPasswordReset(self, request: identity_pb2.RequestPasswordResetRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            await passwords.request_reset(
                s,
                login=request.login,
                portal_url=self.portal_url,
                client_address=request.client_address,
                box=self.box,
                language=request.language or "en",
            )
        return identity_pb2.RequestPasswordResetResponse()

    async def CheckPasswordToken(self, request: identity_pb2.CheckPasswordTokenRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            purpose = await passwords.check_token(s, token=request.token)
        return identity_pb2.CheckPasswordTokenResponse(purpose=purpose)

    async def SetPasswordWithToken(self, request: identity_pb2.SetPasswordWithTokenRequest, context):  # noqa: N802, ANN001
        user = await passwords.set_password_with_token(
            self.db, token=request.token, new_password=request.new_password, client_address=request.client_address
        )
        return identity_pb2.SetPasswordWithTokenResponse(login=user.login)

    async def ChangePassword(self, request: identity_pb2.ChangePasswordRequest, context):  # noqa: N802, ANN001
        revoked = await passwords.change_password(
            self.db,
            principal=current_principal(),
            current_password=request.current_password,
            new_password=request.new_password,
            client_address=request.client_address,
        )
        return identity_pb2.ChangePasswordResponse(sessions_revoked=revoked)

    async def InvitePortalUser(self, request: identity_pb2.InvitePortalUserRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            await passwords.reinvite(
                s,
                principal=current_principal(),
                portal_user_id=request.portal_user_id,
                portal_url=self.portal_url,
                box=self.box,
                language=request.language or "en",
            )
        return identity_pb2.InvitePortalUserResponse()

    async def SendLoginDetails(self, request: identity_pb2.SendLoginDetailsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await passwords.send_login_details(
                s,
                principal=principal,
                portal_user_id=request.portal_user_id,
                portal_url=self.portal_url,
                box=self.box,
                language=request.language or "en",
            )
        return identity_pb2.SendLoginDetailsResponse()
