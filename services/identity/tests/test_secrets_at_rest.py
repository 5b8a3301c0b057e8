"""Secrets at rest: TOTP secrets are stored encrypted with the secrets key (Fernet), existing plain-text rows are
encrypted at start-up and keep working, the key is required in prod and can be rotated; the MFA step's pending
session is told apart from an ended one. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import ValidationError

from identity import at_rest
from identity.config import Settings
from identity.db import utcnow
from identity.mail.mailer import Mailer, SmtpConfig, SmtpTransport
from identity.mail.models import OutboundEmail
from identity.mfa.models import MfaFactor
from identity.mfa.service import encrypt_legacy_secrets
from identity.secrets import SecretBox, read_keys
from portal.identity.v1 import identity_pb2
from servicekit.principal import bearer_metadata

PORTAL = identity_pb2.AUDIENCE_PORTAL


async def staff_md(stub, passwords):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(
        identity_pb2.SignInRequest(
            login="admin@example.test", password=passwords["staff"], audience=identity_pb2.AUDIENCE_STAFF
        )
    )
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


async def test_a_new_totp_secret_is_stored_encrypted_and_works(stub, db, world, passwords, settings):
    await stub.SetRequireMfa(
        identity_pb2.SetRequireMfaRequest(portal_user_id=world.alice, require_mfa=True),
        metadata=await staff_md(stub, passwords),
    )
    alice_in = identity_pb2.SignInRequest(login="alice@acme.test", password=passwords["alice"], audience=PORTAL)
    signed = await stub.SignIn(alice_in)
    # The MFA step pending: the session is refused with a field that says which step, not "ended".
    with pytest.raises(grpc.aio.AioRpcError) as pending:
        await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    assert pending.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert pending.value.details().startswith("mfa_enrol_pending: ")
    begun = await stub.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(session_token=signed.session_token))
    async with db.unit_of_work() as s:
        stored = (await s.get(MfaFactor, world.alice)).secret
    assert stored.startswith("fernet:") and begun.secret not in stored
    assert settings.secret_box().open(stored) == begun.secret
    await stub.ConfirmMfaEnrolment(
        identity_pb2.ConfirmMfaEnrolmentRequest(session_token=signed.session_token, code=pyotp.TOTP(begun.secret).now())
    )
    again = await stub.SignIn(alice_in)
    with pytest.raises(grpc.aio.AioRpcError) as pending:
        await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=again.session_token))
    assert pending.value.details().startswith("mfa_pending: ")
    code = pyotp.TOTP(begun.secret).at(time.time() + 30)
    await stub.VerifyMfaCode(identity_pb2.VerifyMfaCodeRequest(session_token=again.session_token, code=code))
    await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=again.session_token))


async def test_plain_text_secrets_from_before_are_encrypted_and_keep_working(stub, db, world, passwords, settings):
    secret = pyotp.random_base32()
    async with db.unit_of_work() as s:
        s.add(MfaFactor(user_id=world.alice, secret=secret, confirmed_at=utcnow(), last_step=0))
    alice_in = identity_pb2.SignInRequest(login="alice@acme.test", password=passwords["alice"], audience=PORTAL)
    first = await stub.SignIn(alice_in)
    # Still read in plain text until migrated.
    await stub.VerifyMfaCode(
        identity_pb2.VerifyMfaCodeRequest(session_token=first.session_token, code=pyotp.TOTP(secret).now())
    )
    box = settings.secret_box()
    assert await encrypt_legacy_secrets(db, box) == 1
    assert await encrypt_legacy_secrets(db, box) == 0
    async with db.unit_of_work() as s:
        stored = (await s.get(MfaFactor, world.alice)).secret
    assert stored.startswith("fernet:") and secret not in stored and box.open(stored) == secret
    second = await stub.SignIn(alice_in)
    await stub.VerifyMfaCode(
        identity_pb2.VerifyMfaCodeRequest(
            session_token=second.session_token, code=pyotp.TOTP(secret).at(time.time() + 30)
        )
    )


def test_the_key_is_required_in_prod_checked_and_rotatable(tmp_path: Path, signing_key_file: Path) -> None:
    with pytest.raises(ValidationError, match="secrets_key_file"):
        Settings(
            env="prod",
            database_url="postgresql+asyncpg://u:p@db/identity",
            signing_key_file=signing_key_file,
            portal_url="https://portal.example.com",
        )
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    with pytest.raises(ValidationError, match="Fernet keys"):
        Settings(database_url="sqlite+aiosqlite:///x.db", signing_key_file=signing_key_file, secrets_key_file=bad)
    old, new = Fernet.generate_key(), Fernet.generate_key()
    sealed_with_old = SecretBox([old]).seal("JBSWY3DPEHPK3PXP")
    rotated = tmp_path / "rotated.key"
    rotated.write_text(f"{new.decode()}\n{old.decode()}\n")
    box = Settings(
        database_url="sqlite+aiosqlite:///x.db", signing_key_file=signing_key_file, secrets_key_file=rotated
    ).secret_box()
    assert read_keys(rotated) == [new, old]
    assert box.open(sealed_with_old) == "JBSWY3DPEHPK3PXP"
    assert SecretBox([new]).open(box.seal("x")) == "x"
    with pytest.raises(ValueError, match="key this service does not have"):
        SecretBox([Fernet.generate_key()]).open(sealed_with_old)


async def test_plain_link_emails_from_before_are_blanked(db, world, smtp_catcher):
    link = "https://portal.example.test/reset?token=plain-old-token"
    async with db.unit_of_work() as s:
        for cause, sent in (("old-sent", utcnow()), ("old-queued", None)):
            s.add(
                OutboundEmail(
                    cause_event_id=cause,
                    template="password_reset",
                    recipient="alice@acme.test",
                    subject="Reset your portal password",
                    body=f"Open {link}\n",
                    sent_at=sent,
                )
            )
    await at_rest.migrate(db, SecretBox([Fernet.generate_key()]))

    async def bodies() -> dict[str, str]:
        async with db.unit_of_work() as s:
            rows = (await s.scalars(sa.select(OutboundEmail))).all()
            return {r.cause_event_id: r.body for r in rows}

    assert await bodies() == {"old-sent": "", "old-queued": f"Open {link}\n"}
    config = SmtpConfig(host="127.0.0.1", port=smtp_catcher.smtp_port, mail_from="portal@example.test", timeout=5)
    assert await Mailer(db, SmtpTransport(config)).send_pending() == 1
    assert "plain-old-token" in smtp_catcher.wait_for(to="alice@acme.test").text
    assert await bodies() == {"old-sent": "", "old-queued": ""}
