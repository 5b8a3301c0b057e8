"""SPEC H5: the language a user reads is kept on the user (SetMyLanguage), a customer has a default staff set, the
resolved language comes with the session, and identity's emails are written in the recipient's language — a French
user's password reset and ticket reply are in French, an English colleague's stay English — with times in the
operator's time zone (PORTAL_TIMEZONE)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from identity.events.publish import SESSIONS_CHANGED
from identity.languages import service as languages
from identity.mail import billing_notifications
from identity.mail.models import OutboundEmail
from identity.mail.ticket_notifications import ticket_commented_handler
from identity.passwords.service import request_reset
from identity.users.models import PortalUser
from portal.common.v1 import common_pb2
from portal.identity.v1 import events_pb2 as identity_events
from portal.tickets.v1 import events_pb2
from servicekit import i18n
from servicekit.db import Database
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.outbox_tables import outbox
from servicekit.principal import KIND_PORTAL_USER, Principal

from .conftest import STAFF

PORTAL_URL = "https://portal.example.test"


def alice_principal(world) -> Principal:  # noqa: ANN001
    return Principal(kind=KIND_PORTAL_USER, subject_id=world.alice, customer_id=world.customer_a)


async def test_the_language_is_kept_on_the_user_and_the_customer_default_applies_otherwise(db: Database, world) -> None:  # noqa: ANN001
    alice = alice_principal(world)
    async with db.unit_of_work() as s:
        assert await languages.language_of_principal(s, alice) == ""  # nothing chosen: the browser decides
        with pytest.raises(PermissionDenied):
            await languages.set_customer_language(s, principal=alice, customer_id=world.customer_a, language="fr")
        assert (
            await languages.set_customer_language(s, principal=STAFF, customer_id=world.customer_a, language="fr")
            == "fr"
        )
    async with db.unit_of_work() as s:
        assert await languages.language_of_principal(s, alice) == "fr"  # the customer's default
        assert await languages.set_my_language(s, principal=alice, language="en") == "en"
    async with db.unit_of_work() as s:
        assert await languages.language_of_principal(s, alice) == "en"  # her own choice wins
        # The gateways keep sessions for minutes: each change tells them to drop the sessions it concerns.
        changed = [
            identity_events.SessionsChanged.FromString(p)
            for p in (await s.scalars(sa.select(outbox.c.payload).where(outbox.c.subject == SESSIONS_CHANGED))).all()
        ]
        assert sorted((e.reason, list(e.user_ids), list(e.customer_ids)) for e in changed) == [
            ("language", [], [world.customer_a]),
            ("language", [world.alice], []),
        ]
        for bad in ("de", "fr; DROP TABLE", "x" * 300):
            with pytest.raises(InvalidArgument):
                await languages.set_my_language(s, principal=alice, language=bad)
        with pytest.raises(InvalidArgument):
            await languages.set_customer_language(s, principal=STAFF, customer_id=world.customer_a, language="de")


async def test_a_french_users_reset_and_ticket_reply_are_in_french(db: Database, world, settings) -> None:  # noqa: ANN001
    box = settings.secret_box()
    async with db.unit_of_work() as s:
        await languages.set_my_language(s, principal=alice_principal(world), language="fr")
    async with db.unit_of_work() as s:
        # The reset page was English (the request's language): Alice still reads her email in French.
        await request_reset(s, login="alice@acme.test", portal_url=PORTAL_URL, box=box, language="en")
    reply = events_pb2.TicketCommented(
        meta=common_pb2.EventMeta(event_id=str(uuid.uuid4()), customer_id=world.customer_a),
        ticket_id="t-1",
        number=1042,
        customer_id=world.customer_a,
        contact_id=world.contact_a,
        subject="Ventilateur bruyant",
        comment_id="c-1",
        is_public=True,
        author_kind="staff",
        author_id="staff-1",
        author_name="Tess Tech",
        body="Nous avons remplacé le ventilateur.",
    )
    async with db.unit_of_work() as s:
        await ticket_commented_handler(portal_url=PORTAL_URL)(s, reply, reply.meta.event_id)
    async with db.unit_of_work() as s:
        sent = {e.template: e for e in (await s.scalars(sa.select(OutboundEmail))).all()}
    reset = sent["password_reset"]
    assert reset.recipient == "alice@acme.test"
    assert reset.subject == "Réinitialisez votre mot de passe du portail"
    assert json.loads(box.open(reset.body))["text"].startswith("Bonjour")
    answer = sent["ticket_staff_reply"]
    assert answer.subject == "Nouvelle réponse au ticket n°1042 : Ventilateur bruyant"
    assert answer.body.startswith("Bonjour Alice Moreno,\n\nTess Tech a répondu à votre ticket n°1042")
    assert "Ce message est automatique" in answer.body and "Hello" not in answer.body

    # Bob (customer B, nothing chosen, no default) still reads English.
    async with db.unit_of_work() as s:
        bob = await s.get(PortalUser, world.bob)
        assert bob.language == ""
        await request_reset(s, login="bob.blue", portal_url=PORTAL_URL, box=box, language="en")
    async with db.unit_of_work() as s:
        to_bob = await s.scalar(sa.select(OutboundEmail).where(OutboundEmail.recipient == "bea@blue.test"))
    assert to_bob.subject == "Reset your portal password"


def test_an_emailed_time_is_in_the_operators_time_zone(monkeypatch) -> None:  # noqa: ANN001
    at = datetime(2026, 12, 4, 14, 5, tzinfo=UTC)
    monkeypatch.setenv(i18n.TIMEZONE_ENV, "Europe/Paris")
    i18n.operator_zone.cache_clear()
    try:
        assert billing_notifications.when(at, "fr") == "4\u00a0déc.\u00a02026 15:05\u00a0CET"
        assert billing_notifications.when(at, "en") == "4\u00a0Dec\u00a02026 15:05\u00a0CET"
        monkeypatch.setenv(i18n.TIMEZONE_ENV, "Mars/Olympus")
        i18n.operator_zone.cache_clear()
        with pytest.raises(SystemExit, match="PORTAL_TIMEZONE"):
            i18n.operator_zone()
    finally:
        monkeypatch.delenv(i18n.TIMEZONE_ENV)
        i18n.operator_zone.cache_clear()
    assert billing_notifications.when(at, "en").endswith("14:05\u00a0UTC")
