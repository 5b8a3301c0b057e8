"""Web push (X7) end to end inside identity: subscriptions and opt-in through the real servicer over gRPC, a staff
reply's event through the push consumer's handler, and the pusher sending to a local Web Push service
(portal_testkit.webpush) that checks the VAPID signature (RFC 8292) and decrypts the aes128gcm body (RFC 8291).
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.config import Settings
from identity.contacts.service import create_contact
from identity.groups.service import create_group
from identity.push import service as push
from identity.push.models import OutboundPush, PushPreference, PushSubscription
from identity.push.notifications import (
    access_request_push_handler,
    estimate_push_handler,
    invoice_push_handler,
    ticket_reply_push_handler,
)
from identity.push.sender import Pusher, VapidKey
from identity.push.service import check_endpoint
from identity.users.service import create_portal_user
from portal.billing.v1 import events_pb2 as billing_events
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2
from portal.remote.v1 import events_pb2 as remote_events
from portal.tickets.v1 import events_pb2
from portal_testkit.webpush import PushService
from servicekit import permissions as perm
from servicekit.db import Database
from servicekit.errors import InvalidArgument
from servicekit.principal import KIND_PORTAL_USER, Principal, bearer_metadata

from .conftest import STAFF

PORTAL = identity_pb2.AUDIENCE_PORTAL
CAROL_PASSWORD = "carol-pass-0123456789"


@pytest.fixture(scope="module")
def vapid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


@pytest.fixture
def settings(db_url: str, signing_key_file: Path, vapid_file: Path) -> Settings:
    return Settings(
        database_url=db_url,
        signing_key_file=signing_key_file,
        portal_url="https://portal.example.test",
        vapid_private_key_file=vapid_file,
        vapid_subject="mailto:ops@example.test",
        push_insecure_hosts="127.0.0.1",
    )


async def md_of(stub, login: str, password: str):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=PORTAL))
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


async def rpc_error(call) -> grpc.aio.AioRpcError | None:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err
    return None


def reply(world, *, public: bool = True) -> events_pb2.TicketCommented:  # noqa: ANN001
    return events_pb2.TicketCommented(
        meta=common_pb2.EventMeta(event_id=str(uuid.uuid4()), customer_id=world.customer_a),
        ticket_id="t-1",
        number=1042,
        customer_id=world.customer_a,
        contact_id=world.contact_a,
        subject="Noisy fan",
        comment_id="c-1",
        is_public=public,
        author_kind="staff",
        author_id="staff-1",
        author_name="Tess Tech",
        body="We replaced the fan; the admin password is hunter2" if public else "",
    )


async def deliver(db: Database, event) -> None:  # noqa: ANN001
    async with db.unit_of_work() as s:
        await ticket_reply_push_handler(portal_url="https://portal.example.test")(s, event, event.meta.event_id)


def subscription(sub: dict) -> identity_pb2.AddPushSubscriptionRequest:
    return identity_pb2.AddPushSubscriptionRequest(
        endpoint=sub["endpoint"], p256dh=sub["keys"]["p256dh"], auth=sub["keys"]["auth"], user_agent="Test/1.0"
    )


ALL = identity_pb2.PushPreferences(ticket_replies=True, estimates=True, invoices=True, remote_requests=True)


async def test_a_staff_reply_reaches_only_the_subscribed_contact_and_a_410_deletes(
    stub, db: Database, world, passwords, settings: Settings
) -> None:
    # Carol: the same customer, another contact, with Tickets - View All but push turned off.
    async with db.unit_of_work() as s:
        contact = await create_contact(s, principal=STAFF, customer_id=world.customer_a, name="Carol", email="c@a.test")
        await create_portal_user(
            s,
            principal=STAFF,
            customer_id=world.customer_a,
            contact_id=contact.id,
            login="carol@acme.test",
            email="carol@acme.test",
            password=CAROL_PASSWORD,
        )
    alice = await md_of(stub, "alice@acme.test", passwords["alice"])
    carol = await md_of(stub, "carol@acme.test", CAROL_PASSWORD)
    bob = await md_of(stub, "bob.blue", passwords["bob"])
    vapid = settings.vapid_key()
    assert vapid is not None
    async with PushService() as service:
        # Everything is off until the user turns it on, and the page gets the VAPID key to subscribe with.
        got = await stub.GetPushSettings(identity_pb2.GetPushSettingsRequest(), metadata=alice)
        assert got.vapid_public_key == vapid.public_key() and len(got.vapid_public_key) == 87
        assert got.preferences == identity_pb2.PushPreferences() and not got.subscriptions
        added = {}
        for name, md in (("alice", alice), ("carol", carol), ("bob", bob)):
            sub = service.subscribe(name)
            added[name] = (await stub.AddPushSubscription(subscription(sub), metadata=md)).subscription
            # The same browser again (a retry, another tab) is the same subscription.
            again = await stub.AddPushSubscription(subscription(sub), metadata=md)
            assert again.subscription.id == added[name].id
        await stub.SetPushPreferences(identity_pb2.SetPushPreferencesRequest(preferences=ALL), metadata=alice)
        await stub.SetPushPreferences(identity_pb2.SetPushPreferencesRequest(preferences=ALL), metadata=bob)
        listed = await stub.GetPushSettings(identity_pb2.GetPushSettingsRequest(), metadata=alice)
        assert [s.id for s in listed.subscriptions] == [added["alice"].id]
        assert listed.subscriptions[0].endpoint_host == "127.0.0.1" and listed.preferences == ALL

        # Another user's subscription is not found, and stays.
        err = await rpc_error(
            stub.RemovePushSubscription(
                identity_pb2.RemovePushSubscriptionRequest(subscription_id=added["alice"].id), metadata=bob
            )
        )
        assert err is not None and err.code() == grpc.StatusCode.NOT_FOUND

        pusher = Pusher(db, vapid)
        event = reply(world)
        await deliver(db, event)
        await deliver(db, event)  # redelivered: nothing more
        await deliver(db, reply(world, public=False))  # a private note: nothing
        assert await pusher.send_pending() == 1
        assert service.refused == []
        assert service.messages("alice") == [
            {"title": "New reply on ticket #1042", "body": "Noisy fan", "url": "/tickets/t-1"}
        ]
        assert service.messages("carol") == [] and service.messages("bob") == []
        got = service.received[0]
        assert got.vapid_key == vapid.public_key() and got.claims["sub"] == "mailto:ops@example.test"
        assert got.ttl > 0

        # Opting out stops it.
        off = identity_pb2.PushPreferences(estimates=True)
        await stub.SetPushPreferences(identity_pb2.SetPushPreferencesRequest(preferences=off), metadata=alice)
        await deliver(db, reply(world))
        assert await pusher.send_pending() == 0 and len(service.received) == 1

        # A 410 from the push service: the subscription is deleted, and nothing waits for it.
        await stub.SetPushPreferences(identity_pb2.SetPushPreferencesRequest(preferences=ALL), metadata=alice)
        service.gone.add("alice")
        await deliver(db, reply(world))
        assert await pusher.send_pending() == 1
        async with db.unit_of_work() as s:
            assert await s.get(PushSubscription, added["alice"].id) is None
            assert (
                await s.scalar(
                    sa.select(sa.func.count())
                    .select_from(OutboundPush)
                    .where(OutboundPush.sent_at.is_(None), OutboundPush.failed_at.is_(None))
                )
            ) == 0
        left = await stub.GetPushSettings(identity_pb2.GetPushSettingsRequest(), metadata=alice)
        assert list(left.subscriptions) == []

        # A user removes its own subscription.
        await stub.RemovePushSubscription(
            identity_pb2.RemovePushSubscriptionRequest(subscription_id=added["carol"].id), metadata=carol
        )
        assert not (await stub.GetPushSettings(identity_pb2.GetPushSettingsRequest(), metadata=carol)).subscriptions


async def test_subscriptions_are_checked(stub, world, passwords) -> None:  # noqa: ANN001
    alice = await md_of(stub, "alice@acme.test", passwords["alice"])
    good = PushService().subscribe("x")
    cases = {
        "endpoint": ["http://push.example.com/x", "https://10.0.0.5/x", "https://localhost/x", "ftp://a/b", "", "x"],
        "p256dh": ["not-a-key", good["keys"]["auth"]],
        "auth": ["AAAA"],
    }
    for field, values in cases.items():
        for value in values:
            sub = {"endpoint": "https://push.example.com/x", "keys": dict(good["keys"])}
            if field == "endpoint":
                sub["endpoint"] = value
            else:
                sub["keys"][field] = value
            err = await rpc_error(stub.AddPushSubscription(subscription(sub), metadata=alice))
            assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, value)
            assert err.details().startswith(f"{field}:"), err.details()
    # Staff have no push subscriptions.
    staff = await md_of_staff(stub, passwords)
    err = await rpc_error(stub.GetPushSettings(identity_pb2.GetPushSettingsRequest(), metadata=staff))
    assert err is not None and err.code() == grpc.StatusCode.PERMISSION_DENIED


async def md_of_staff(stub, passwords):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(
        identity_pb2.SignInRequest(
            login="admin@example.test", password=passwords["staff"], audience=identity_pb2.AUDIENCE_STAFF
        )
    )
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


def test_endpoints_outside_tests_are_https_to_the_internet() -> None:
    assert check_endpoint("https://fcm.googleapis.com/fcm/send/abc") == "https://fcm.googleapis.com/fcm/send/abc"
    for bad in ("http://127.0.0.1:9/push/x", "https://127.0.0.1/x", "https://[::1]/x", "https://user:pw@push.test/x"):
        with pytest.raises(InvalidArgument):
            check_endpoint(bad)
    assert check_endpoint("http://127.0.0.1:9/x", insecure_hosts=frozenset({"127.0.0.1"}))


def test_vapid_settings(signing_key_file: Path, vapid_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be empty when env=prod"):
        Settings(
            env="prod",
            database_url="postgresql+asyncpg://u@h/db",
            signing_key_file=signing_key_file,
            portal_url="https://portal.example.com",
            push_insecure_hosts="127.0.0.1",
        )
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    with pytest.raises(ValueError, match="not a P-256 private key"):
        Settings(database_url="sqlite+aiosqlite:///x", signing_key_file=signing_key_file, vapid_private_key_file=bad)
    assert VapidKey.from_file(vapid_file, "mailto:a@b.test").public_key()


async def test_each_kind_reaches_who_may_see_its_record(db: Database, world) -> None:  # noqa: ANN001
    """Estimates, invoices and remote requests: View All users always, View Mine users for their contact's estimate
    and for devices (as the device email), never for an invoice (the event names no contact); nothing without the
    opt-in of that kind."""
    async with db.unit_of_work() as s:
        mine = await create_group(
            s,
            principal=STAFF,
            name="Mine only",
            permissions=[perm.ESTIMATES_VIEW_MINE, perm.INVOICES_VIEW_MINE, perm.ASSETS_VIEW_MINE],
        )
        other = await create_contact(s, principal=STAFF, customer_id=world.customer_a, name="Dan", email="d@a.test")
        dan, _ = await create_portal_user(
            s,
            principal=STAFF,
            customer_id=world.customer_a,
            contact_id=other.id,
            login="dan@acme.test",
            email="dan@acme.test",
            password="dan-pass-0123456789",
            group_name=mine.name,
        )
        dan.language = "fr"  # SPEC H5: his pushes are in French, Alice's in English
        subs = {}
        for name, user_id, contact in (("alice", world.alice, world.contact_a), ("dan", dan.id, other.id)):
            who = Principal(kind=KIND_PORTAL_USER, subject_id=user_id, customer_id=world.customer_a, contact_id=contact)
            sub = PushService().subscribe(name)
            subs[name] = await push.add_subscription(
                s,
                principal=who,
                endpoint=f"https://push.example.com/{name}",
                p256dh=sub["keys"]["p256dh"],
                auth=sub["keys"]["auth"],
            )
            kinds = dict.fromkeys(push.KINDS, True)
            if name == "dan":
                kinds["remote_requests"] = False  # opted out of this one kind
            s.add(PushPreference(portal_user_id=user_id, **kinds))
    by_id = {sub.id: name for name, sub in subs.items()}

    def meta() -> common_pb2.EventMeta:
        return common_pb2.EventMeta(event_id=str(uuid.uuid4()), customer_id=world.customer_a)

    cases = [
        (
            estimate_push_handler,
            billing_events.EstimateSent(meta=meta(), estimate_id="e-1", number="E-7", contact_id=world.contact_a),
            {"alice"},
        ),
        (
            estimate_push_handler,
            billing_events.EstimateSent(meta=meta(), estimate_id="e-2", number="E-8", contact_id=other.id),
            {"alice", "dan"},
        ),
        (invoice_push_handler, billing_events.InvoiceCreated(meta=meta(), invoice_id="i-1", number="INV-9"), {"alice"}),
        (
            access_request_push_handler,
            remote_events.AccessRequested(meta=meta(), request_id="r-1", requested_by="Tess", asset_name="PC-1"),
            {"alice"},
        ),
    ]
    for handler, event, expected in cases:
        async with db.unit_of_work() as s:
            await handler(portal_url="https://portal.example.test")(s, event, event.meta.event_id)
        async with db.unit_of_work() as s:
            rows = (
                await s.scalars(sa.select(OutboundPush).where(OutboundPush.cause_event_id == event.meta.event_id))
            ).all()
        assert {by_id[r.subscription_id] for r in rows} == expected, type(event).__name__
    # What a push carries: a title, a short text and a portal path, nothing more.
    async with db.unit_of_work() as s:
        estimate = await s.scalar(sa.select(OutboundPush).where(OutboundPush.kind == push.ESTIMATES).limit(1))
    assert json.loads(estimate.payload) == {
        "title": "Estimate E-7 awaits your approval",
        "body": "Read it and approve or decline it in the portal.",
        "url": "/billing/estimates/e-1",
    }
    # Each in its reader's language: the same estimate to Alice (English) and Dan (French).
    async with db.unit_of_work() as s:
        e8 = (await s.scalars(sa.select(OutboundPush).where(OutboundPush.payload.contains("E-8")))).all()
    titles = {by_id[r.subscription_id]: json.loads(r.payload)["title"] for r in e8}
    assert titles == {"alice": "Estimate E-8 awaits your approval", "dan": "Le devis E-8 attend votre accord"}
