"""MFA over gRPC (SPEC P4): forced enrolment, QR code, TOTP codes and recovery codes each working once, wrong
codes ending the session, staff reset, and no secret in a later answer."""

from __future__ import annotations

import time

import grpc
import pyotp
import sqlalchemy as sa

from identity.mfa.models import MfaFactor, RecoveryCode
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.principal import bearer_metadata

PORTAL = identity_pb2.AUDIENCE_PORTAL


async def sign_in(stub, login: str, password: str, audience: int = PORTAL):  # noqa: ANN001, ANN201
    return await stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=audience))


async def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def staff_md(stub, passwords):  # noqa: ANN001, ANN201
    signed = await sign_in(stub, "admin@example.test", passwords["staff"], identity_pb2.AUDIENCE_STAFF)
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


def resolve(stub, token: str):  # noqa: ANN001, ANN201
    return stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=token))


async def enrol(stub, login: str, password: str) -> tuple[str, list[str], str]:  # noqa: ANN001
    signed = await sign_in(stub, login, password)
    assert signed.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROL
    assert await code_of(resolve(stub, signed.session_token)) == grpc.StatusCode.UNAUTHENTICATED
    begun = await stub.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(session_token=signed.session_token))
    assert begun.otpauth_uri.startswith("otpauth://totp/") and begun.secret in begun.otpauth_uri
    assert begun.qr_svg.startswith("<svg")
    code = pyotp.TOTP(begun.secret).now()
    confirmed = await stub.ConfirmMfaEnrolment(
        identity_pb2.ConfirmMfaEnrolmentRequest(session_token=signed.session_token, code=code)
    )
    await resolve(stub, signed.session_token)
    return begun.secret, list(confirmed.recovery_codes), code


async def test_required_mfa_forces_enrolment_then_a_code_at_each_sign_in(stub, db: Database, world, passwords):
    md = await staff_md(stub, passwords)
    assert (await sign_in(stub, "alice@acme.test", passwords["alice"])).next_step == identity_pb2.SIGN_IN_STEP_DONE
    await stub.SetRequireMfa(
        identity_pb2.SetRequireMfaRequest(portal_user_id=world.alice, require_mfa=True), metadata=md
    )

    secret, codes, used = await enrol(stub, "alice@acme.test", passwords["alice"])
    assert len(codes) == 10 and len(set(codes)) == 10
    async with db.unit_of_work() as s:
        stored = set((await s.scalars(sa.select(RecoveryCode.code_hash))).all())
    assert stored and not stored & set(codes), "recovery codes are stored only as hashes"

    signed = await sign_in(stub, "alice@acme.test", passwords["alice"])
    assert signed.next_step == identity_pb2.SIGN_IN_STEP_MFA_CODE
    assert await code_of(resolve(stub, signed.session_token)) == grpc.StatusCode.UNAUTHENTICATED
    # The code that confirmed the enrolment does not work a second time.
    again = identity_pb2.VerifyMfaCodeRequest(session_token=signed.session_token, code=used)
    assert await code_of(stub.VerifyMfaCode(again)) == grpc.StatusCode.INVALID_ARGUMENT
    fresh = pyotp.TOTP(secret).at(time.time() + 30)
    await stub.VerifyMfaCode(identity_pb2.VerifyMfaCodeRequest(session_token=signed.session_token, code=fresh))
    await resolve(stub, signed.session_token)

    other = await sign_in(stub, "alice@acme.test", passwords["alice"])
    reuse = identity_pb2.VerifyMfaCodeRequest(session_token=other.session_token, code=fresh)
    assert await code_of(stub.VerifyMfaCode(reuse)) == grpc.StatusCode.INVALID_ARGUMENT
    by_recovery = identity_pb2.VerifyMfaCodeRequest(session_token=other.session_token, code=codes[0].upper())
    assert (await stub.VerifyMfaCode(by_recovery)).recovery_codes_left == 9
    third = await sign_in(stub, "alice@acme.test", passwords["alice"])
    spent = identity_pb2.VerifyMfaCodeRequest(session_token=third.session_token, code=codes[0])
    assert await code_of(stub.VerifyMfaCode(spent)) == grpc.StatusCode.INVALID_ARGUMENT

    # Enrolling again while enrolled is refused: the secret is never handed out twice.
    begin = identity_pb2.BeginMfaEnrolmentRequest(session_token=signed.session_token)
    assert await code_of(stub.BeginMfaEnrolment(begin)) == grpc.StatusCode.FAILED_PRECONDITION


async def test_five_wrong_codes_end_the_session(stub, world, passwords):
    md = await staff_md(stub, passwords)
    await stub.SetRequireMfa(
        identity_pb2.SetRequireMfaRequest(portal_user_id=world.alice, require_mfa=True), metadata=md
    )
    await enrol(stub, "alice@acme.test", passwords["alice"])
    signed = await sign_in(stub, "alice@acme.test", passwords["alice"])
    wrong = identity_pb2.VerifyMfaCodeRequest(session_token=signed.session_token, code="000000")
    codes = [await code_of(stub.VerifyMfaCode(wrong)) for _ in range(6)]
    assert codes[:4] == [grpc.StatusCode.INVALID_ARGUMENT] * 4
    assert codes[4:] == [grpc.StatusCode.UNAUTHENTICATED] * 2


async def test_staff_reset_mfa_makes_the_user_enrol_again(stub, db: Database, world, passwords):
    md = await staff_md(stub, passwords)
    await stub.SetRequireMfa(
        identity_pb2.SetRequireMfaRequest(portal_user_id=world.alice, require_mfa=True), metadata=md
    )
    first_secret, _, _ = await enrol(stub, "alice@acme.test", passwords["alice"])
    await stub.ResetMfa(identity_pb2.ResetMfaRequest(portal_user_id=world.alice), metadata=md)
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
        assert await s.get(MfaFactor, world.alice) is None
    second_secret, _, _ = await enrol(stub, "alice@acme.test", passwords["alice"])
    assert second_secret != first_secret

    alice = bearer_metadata(
        (await resolve(stub, (await sign_in(stub, "bob.blue", passwords["bob"])).session_token)).principal_token
    )
    reset = identity_pb2.ResetMfaRequest(portal_user_id=world.alice)
    assert await code_of(stub.ResetMfa(reset, metadata=alice)) == grpc.StatusCode.PERMISSION_DENIED


async def test_a_signed_in_user_opts_in_and_resolve_says_so(stub, world, passwords):
    """Issue 15: a user without Require MFA enrols from a working session (the header's opt-in), and
    ResolveSession's mfa_enabled follows, so the header stops offering it."""
    signed = await sign_in(stub, "alice@acme.test", passwords["alice"])
    assert signed.next_step == identity_pb2.SIGN_IN_STEP_DONE
    assert (await resolve(stub, signed.session_token)).mfa_enabled is False
    begun = await stub.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(session_token=signed.session_token))
    assert (await resolve(stub, signed.session_token)).mfa_enabled is False  # not until confirmed
    confirm = identity_pb2.ConfirmMfaEnrolmentRequest(
        session_token=signed.session_token, code=pyotp.TOTP(begun.secret).now()
    )
    assert len((await stub.ConfirmMfaEnrolment(confirm)).recovery_codes) == 10
    assert (await resolve(stub, signed.session_token)).mfa_enabled is True
    assert (await sign_in(stub, "alice@acme.test", passwords["alice"])).next_step == identity_pb2.SIGN_IN_STEP_MFA_CODE
