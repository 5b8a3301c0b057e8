"""Configurable emails (SPEC P2, P3 "login details"): staff read and change the invitation, password reset and
login details templates per language; unknown placeholders and unsafe templates are refused when saved; the mail
goes out through a real SMTP catcher with the customised text, the HTML part escaped, and the queued row sealed
(the reset token not readable at rest) and blanked once sent. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re

import grpc
import pytest
import sqlalchemy as sa

from identity.customers.models import Customer
from identity.mail.mailer import Mailer, SmtpConfig, SmtpTransport
from identity.mail.models import OutboundEmail
from portal.identity.v1 import identity_pb2
from servicekit.principal import bearer_metadata

STAFF = identity_pb2.AUDIENCE_STAFF
PORTAL = identity_pb2.AUDIENCE_PORTAL


async def md_of(stub, login: str, password: str, audience=PORTAL):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=audience))
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


async def rpc_error(call) -> grpc.aio.AioRpcError | None:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err
    return None


def update(name: str, language: str, subject: str, body: str) -> identity_pb2.UpdateEmailTemplateRequest:
    return identity_pb2.UpdateEmailTemplateRequest(name=name, language=language, subject=subject, body=body)


async def test_templates_are_listed_with_defaults_and_placeholders(stub, world, passwords):
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF)
    listed = (await stub.ListEmailTemplates(identity_pb2.ListEmailTemplatesRequest(), metadata=staff)).templates
    assert {(t.name, t.language) for t in listed} == {
        (n, lang) for n in ("invitation", "password_reset", "login_details", "payment_receipt") for lang in ("en", "fr")
    }
    assert not any(t.customised for t in listed)
    reset_fr = next(t for t in listed if (t.name, t.language) == ("password_reset", "fr"))
    assert "{{ link }}" in reset_fr.body and "link" in reset_fr.placeholders and "minutes" in reset_fr.placeholders
    alice = await md_of(stub, "alice@acme.test", passwords["alice"])
    err = await rpc_error(stub.ListEmailTemplates(identity_pb2.ListEmailTemplatesRequest(), metadata=alice))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(stub.UpdateEmailTemplate(update("invitation", "en", "Hi", "{{ link }}"), metadata=alice))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("name", "subject", "body", "detail"),
    [
        ("password_reset", "Reset", "Your password is {{ password }}", "body: unknown placeholder {{ password }}"),
        ("login_details", "Hi {{ link }}", "{{ login }}", "subject: unknown placeholder {{ link }}"),
        ("invitation", "Hi", "Open {{ link ", "body: line 1: "),
        ("invitation", "Hi", "{{ link.__class__.__mro__ }}", "body: cannot be rendered"),
        ("invitation", "Hi", "{{ cycler.__init__.__globals__ }}", "body: unknown placeholder {{ cycler }}"),
        ("invitation", "Hi\nBcc: x@evil.test", "{{ link }}", "subject: one line"),
        ("invitation", "", "{{ link }}", "subject: must not be empty"),
        ("nope", "Hi", "{{ link }}", "name: choose one of"),
    ],
)
async def test_bad_templates_are_refused_naming_the_problem(stub, world, passwords, name, subject, body, detail):
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF)
    err = await rpc_error(stub.UpdateEmailTemplate(update(name, "en", subject, body), metadata=staff))
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith(detail), err.details()
    bad_language = update("invitation", "de", "Hi", "{{ link }}")
    err = await rpc_error(stub.UpdateEmailTemplate(bad_language, metadata=staff))
    assert err.details().startswith("language: ")


async def sent_rows(db) -> list[OutboundEmail]:  # noqa: ANN001
    async with db.unit_of_work() as s:
        return list((await s.scalars(sa.select(OutboundEmail).order_by(OutboundEmail.created_at))).all())


async def test_customised_reset_in_french_goes_out_escaped_and_sealed(stub, db, world, passwords, smtp_catcher):
    async with db.unit_of_work() as s:
        customer = await s.get(Customer, world.customer_a)
        customer.business_name = "Acme <b>Dental</b>"
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF)
    saved = await stub.UpdateEmailTemplate(
        update(
            "password_reset",
            "fr",
            "Nouveau mot de passe pour {{ customer_name }}",
            "Bonjour {{ customer_name }},\n\nOuvrez {{ link }} dans les {{ minutes }} minutes.\n",
        ),
        metadata=staff,
    )
    assert saved.template.customised
    await stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(login="alice@acme.test", language="fr"))

    [row] = await sent_rows(db)
    # At rest: sealed, no token, no link, no name.
    assert row.sealed and row.body.startswith("fernet:") and "reset?token=" not in row.body and "Acme" not in row.body

    config = SmtpConfig(host="127.0.0.1", port=smtp_catcher.smtp_port, mail_from="portal@example.test", timeout=5)
    settings_box = stub_box(db)
    assert await Mailer(db, SmtpTransport(config), box=settings_box).send_pending() == 1
    mail = await asyncio.to_thread(smtp_catcher.wait_for, to="alice@acme.test")
    assert mail.subject == "Nouveau mot de passe pour Acme <b>Dental</b>"
    token = re.search(r"https://portal\.example\.test/reset\?token=(\S+)", mail.text).group(1)
    assert mail.text.startswith("Bonjour Acme <b>Dental</b>,")
    # The HTML part escapes what the customer typed.
    assert "Acme &lt;b&gt;Dental&lt;/b&gt;" in mail.html and "<b>Dental</b>" not in mail.html
    check = await stub.CheckPasswordToken(identity_pb2.CheckPasswordTokenRequest(token=token))
    assert check.purpose == "reset"
    [after] = await sent_rows(db)
    assert after.sent_at is not None and after.body == ""

    # Back to the default; English when no language is asked for.
    reset = await stub.ResetEmailTemplate(
        identity_pb2.ResetEmailTemplateRequest(name="password_reset", language="fr"), metadata=staff
    )
    assert not reset.template.customised and "{{ link }}" in reset.template.body


async def test_login_details_and_invitation_use_their_templates(stub, db, world, passwords, smtp_catcher):
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF)
    await stub.UpdateEmailTemplate(
        update(
            "login_details", "en", "Your login for {{ operator_name }}", "Login: {{ login }}\nAt: {{ signin_link }}\n"
        ),
        metadata=staff,
    )
    await stub.SendLoginDetails(
        identity_pb2.SendLoginDetailsRequest(portal_user_id=world.alice, language="en"), metadata=staff
    )
    await stub.InvitePortalUser(
        identity_pb2.InvitePortalUserRequest(portal_user_id=world.bob, language="fr"), metadata=staff
    )
    config = SmtpConfig(host="127.0.0.1", port=smtp_catcher.smtp_port, mail_from="portal@example.test", timeout=5)
    assert await Mailer(db, SmtpTransport(config), box=stub_box(db)).send_pending() == 2
    details = await asyncio.to_thread(smtp_catcher.wait_for, to="alice@acme.test")
    assert details.subject == "Your login for portal.example.test"
    assert details.text.split() == ["Login:", "Alice@Acme.test", "At:", "https://portal.example.test/signin"]
    invite = await asyncio.to_thread(smtp_catcher.wait_for, to="bea@blue.test")
    assert invite.subject == "Vous êtes invité sur le portail client"
    assert "/invitation?token=" in invite.text and "Votre identifiant : bob.blue" in invite.text
    assert all(r.body == "" for r in await sent_rows(db))

    missing = identity_pb2.SendLoginDetailsRequest(portal_user_id="nope")
    assert (await rpc_error(stub.SendLoginDetails(missing, metadata=staff))).code() == grpc.StatusCode.NOT_FOUND
    alice = await md_of(stub, "alice@acme.test", passwords["alice"])
    mine = identity_pb2.SendLoginDetailsRequest(portal_user_id=world.alice)
    assert (await rpc_error(stub.SendLoginDetails(mine, metadata=alice))).code() == grpc.StatusCode.PERMISSION_DENIED


_BOXES: dict = {}


@pytest.fixture(autouse=True)
def _remember_box(db, settings) -> None:  # noqa: ANN001
    _BOXES[id(db)] = settings.secret_box()


def stub_box(db):  # noqa: ANN001, ANN201
    """The secrets key the servicer under test seals with (settings.secret_box())."""
    return _BOXES[id(db)]


async def test_no_email_of_any_kind_also_silences_resets_invitations_and_login_details(stub, db, world, passwords):
    """SPEC C3 "No email of any kind": the customer and every one of its contacts, account emails included. A
    reset request still answers alike (the caller learns nothing); staff asking to send are told why not."""
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF)
    async with db.unit_of_work() as s:
        (await s.get(Customer, world.customer_a)).no_email = True

    assert (
        await stub.RequestPasswordReset(identity_pb2.RequestPasswordResetRequest(login="alice@acme.test"))
        == identity_pb2.RequestPasswordResetResponse()
    )
    for call in (
        stub.SendLoginDetails(identity_pb2.SendLoginDetailsRequest(portal_user_id=world.alice), metadata=staff),
        stub.InvitePortalUser(identity_pb2.InvitePortalUserRequest(portal_user_id=world.alice), metadata=staff),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no email of any kind" in err.value.details()
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 0

    # The other customer is not affected.
    await stub.InvitePortalUser(identity_pb2.InvitePortalUserRequest(portal_user_id=world.bob), metadata=staff)
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 1
