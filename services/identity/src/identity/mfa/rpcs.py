"""Multi-factor authentication (SPEC P4): the second step of a sign-in, enrolment, and staff resets. Proto ⇄
domain only."""

from __future__ import annotations

from identity.mfa import service as mfa
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class MfaRpcs(Rpcs):
    async def VerifyMfaCode(self, request: identity_pb2.VerifyMfaCodeRequest, context):  # noqa: N802, ANN001
        left = await mfa.verify_code(
            self.db,
            token=request.session_token,
            code=request.code,
            policy=self.policy,
            address=request.client_address,
            box=self.box,
        )
        return identity_pb2.VerifyMfaCodeResponse(recovery_codes_left=left)

    async def BeginMfaEnrolment(self, request: identity_pb2.BeginMfaEnrolmentRequest, context):  # noqa: N802, ANN001
        enrolment = await mfa.begin_enrolment(
            self.db, token=request.session_token, policy=self.policy, issuer=self.mfa_issuer, box=self.box
        )
        return identity_pb2.BeginMfaEnrolmentResponse(
            secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
        )

    async def ConfirmMfaEnrolment(self, request: identity_pb2.ConfirmMfaEnrolmentRequest, context):  # noqa: N802, ANN001
        codes = await mfa.confirm_enrolment(
            self.db,
            token=request.session_token,
            code=request.code,
            policy=self.policy,
            address=request.client_address,
            box=self.box,
        )
        return identity_pb2.ConfirmMfaEnrolmentResponse(recovery_codes=codes)

    async def ResetMfa(self, request: identity_pb2.ResetMfaRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await mfa.reset_mfa(s, principal=principal, portal_user_id=request.portal_user_id)
        return identity_pb2.ResetMfaResponse()

    async def SetRequireMfa(self, request: identity_pb2.SetRequireMfaRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await mfa.set_require_mfa(
                s, principal=principal, portal_user_id=request.portal_user_id, required=request.require_mfa
            )
        return identity_pb2.SetRequireMfaResponse()
