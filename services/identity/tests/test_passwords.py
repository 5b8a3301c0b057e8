"""Password reset, change password, session revocation and lock-out (SPEC P3, P11) over gRPC."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa

from identity.mail.models import OutboundEmail
from identity.passwords.models import PasswordToken
from identity.sessions.models import UserSession
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.principal import bearer_metadata

PORTAL = identity_pb2.AUDIENCE_PORTAL
NEW_PASSWORD = "a-brand-new-pass-42"


async def sign_in(stub, login: str, password: str, address: str = "198.51.100.4"):  # noqa: ANN001, ANN201
    return await stub.SignIn(
        identity_pb2.SignInRequest(login=login, password=password, audience=PORTAL, client_address=address)
    )


async def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


@pytest.fixture(autouse=True)
def _secret_box(settings) -> None:  # noqa: ANN001
    """Queued reset and invitation emails are stored encrypted (identity.secrets): the helpers open them."""
    global _BOX
    _BOX = settings.secret_box()


_BOX = None


async def reset_links(db: Database, recipient: str) -> list[str]:
    async with db.unit_of_work() as s:
        bodies = (
            await s.scalars(
                sa.select(OutboundEmail.body)
                .where(OutboundEmail.recipient == recipient, OutboundEmail.template == "password_reset")
                .order_by(OutboundEmail.created_at)
            )
        ).all()
    bodies = [json.loads(_BOX.open(b))["text"] for b in bodies]
    return [re.search(r"https://portal\.example\.test/reset\?token=(\S+)", b).group(1) for b in bodies]


async def test_reset_answers_alike_and_emails_only_a_real_user(stub, db: Database, world) -> None:
    for login in ("alice@acme.test", "nobody@acme.test", "ALICE@ACME.TEST"):
        resp = await stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(login=login))
        assert resp == identity_pb2.RequestPasswordResetResponse()
    links = await reset_links(db, "alice@acme.test")
    assert len(links) == 2
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 2
        hashes = set((await s.scalars(sa.select(PasswordToken.token_hash))).all())
    # Only the hash is stored; the first link stopped working when the second was sent.
    assert not any(link in hashes for link in links)
    first, second = links
    assert await code_of(stub.CheckPasswordToken(identity_pb2.CheckPasswordTokenRequest(token=first))) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    checked = await stub.CheckPasswordToken(identity_pb2.CheckPasswordTokenRequest(token=second))
    assert checked.purpose == "reset"


async def test_a_reset_token_works_once_and_ends_every_session(stub, db: Database, world, passwords) -> None:
    before = await sign_in(stub, "alice@acme.test", passwords["alice"])
    await stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(login="alice@acme.test"))
    (token,) = await reset_links(db, "alice@acme.test")

    short = identity_pb2.SetPasswordWithTokenRequest(token=token, new_password="short")
    assert await code_of(stub.SetPasswordWithToken(short)) == grpc.StatusCode.INVALID_ARGUMENT
    done = await stub.SetPasswordWithToken(
        identity_pb2.SetPasswordWithTokenRequest(token=token, new_password=NEW_PASSWORD)
    )
    assert done.login == "Alice@Acme.test"
    again = identity_pb2.SetPasswordWithTokenRequest(token=token, new_password="another-pass-0000")
    assert await code_of(stub.SetPasswordWithToken(again)) == grpc.StatusCode.FAILED_PRECONDITION

    resolve = identity_pb2.ResolveSessionRequest(session_token=before.session_token)
    assert await code_of(stub.ResolveSession(resolve)) == grpc.StatusCode.UNAUTHENTICATED
    assert await code_of(sign_in(stub, "alice@acme.test", passwords["alice"])) == grpc.StatusCode.UNAUTHENTICATED
    await sign_in(stub, "alice@acme.test", NEW_PASSWORD)


async def test_an_expired_reset_token_is_refused(stub, db: Database, world) -> None:
    await stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(login="alice@acme.test"))
    (token,) = await reset_links(db, "alice@acme.test")
    async with db.unit_of_work() as s:
        row = await s.scalar(sa.select(PasswordToken))
        assert row.expires_at - row.created_at == timedelta(minutes=30)
        row.expires_at = row.created_at - timedelta(seconds=1)
    req = identity_pb2.SetPasswordWithTokenRequest(token=token, new_password=NEW_PASSWORD)
    assert await code_of(stub.SetPasswordWithToken(req)) == grpc.StatusCode.FAILED_PRECONDITION
    assert await code_of(stub.SetPasswordWithToken(req.__class__(token="x" * 43, new_password=NEW_PASSWORD))) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )


async def test_at_most_three_reset_emails_an_hour(stub, db: Database, world) -> None:
    for _ in range(6):
        await stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(login="alice@acme.test"))
    assert len(await reset_links(db, "alice@acme.test")) == 3


async def test_change_password_keeps_this_session_and_ends_the_others(stub, db: Database, world, passwords) -> None:
    other = await sign_in(stub, "alice@acme.test", passwords["alice"], address="203.0.113.9")
    this = await sign_in(stub, "alice@acme.test", passwords["alice"])
    token = (
        await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=this.session_token))
    ).principal_token
    md = bearer_metadata(token)
    wrong = identity_pb2.ChangePasswordRequest(current_password="not-it-at-all", new_password=NEW_PASSWORD)
    try:
        await stub.ChangePassword(wrong, metadata=md)
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details().startswith("current_password:")
    else:
        raise AssertionError("a wrong current password was accepted")
    changed = await stub.ChangePassword(
        identity_pb2.ChangePasswordRequest(current_password=passwords["alice"], new_password=NEW_PASSWORD), metadata=md
    )
    assert changed.sessions_revoked == 1
    await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=this.session_token))
    ended = identity_pb2.ResolveSessionRequest(session_token=other.session_token)
    assert await code_of(stub.ResolveSession(ended)) == grpc.StatusCode.UNAUTHENTICATED
    async with db.unit_of_work() as s:
        live = await s.scalar(
            sa.select(sa.func.count()).select_from(UserSession).where(UserSession.revoked_at.is_(None))
        )
    assert live == 1


async def test_200_wrong_passwords_neither_let_a_guess_through_nor_lock_out_the_owner(stub, world, passwords) -> None:
    attacker = "192.0.2.66"
    codes = [await code_of(sign_in(stub, "alice@acme.test", f"guess-{i:04d}-xx", attacker)) for i in range(200)]
    assert codes.count(grpc.StatusCode.UNAUTHENTICATED) == 5
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 195
    # The right password from the attacker's address waits like any other guess ...
    assert await code_of(sign_in(stub, "alice@acme.test", passwords["alice"], attacker)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    # ... while the owner, elsewhere, signs in.
    await sign_in(stub, "alice@acme.test", passwords["alice"], "198.51.100.4")


async def test_many_addresses_against_one_account_leave_only_known_addresses(stub, world, passwords) -> None:
    await sign_in(stub, "alice@acme.test", passwords["alice"], "198.51.100.4")  # the owner's usual address
    for i in range(10):
        await code_of(sign_in(stub, "alice@acme.test", "wrong-password-1", f"192.0.2.{i}"))
    assert await code_of(sign_in(stub, "alice@acme.test", passwords["alice"], "192.0.2.200")) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    await sign_in(stub, "alice@acme.test", passwords["alice"], "198.51.100.4")


async def test_one_address_guessing_many_accounts_is_slowed_without_touching_other_addresses(
    stub, world, passwords
) -> None:
    sprayer = "192.0.2.99"
    for i in range(30):
        await code_of(sign_in(stub, f"user{i}@nowhere.test", "spray-password-1", sprayer))
    assert await code_of(sign_in(stub, "alice@acme.test", passwords["alice"], sprayer)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    await sign_in(stub, "alice@acme.test", passwords["alice"], "198.51.100.4")
