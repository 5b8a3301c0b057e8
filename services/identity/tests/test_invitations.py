"""Invitations (SPEC P2): a portal user made without a password gets a single-use link by email; "always invite
new customers" gives new customers and contacts a portal user and an invitation."""

from __future__ import annotations

import json
import re

import grpc
import pytest
import sqlalchemy as sa

from identity.mail.models import OutboundEmail
from identity.users.models import PortalUser
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.principal import bearer_metadata

STAFF = identity_pb2.AUDIENCE_STAFF
PORTAL = identity_pb2.AUDIENCE_PORTAL


async def staff_md(stub, passwords):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(
        identity_pb2.SignInRequest(login="admin@example.test", password=passwords["staff"], audience=STAFF)
    )
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


@pytest.fixture(autouse=True)
def _secret_box(settings) -> None:  # noqa: ANN001
    """Queued reset and invitation emails are stored encrypted (identity.secrets): the helpers open them."""
    global _BOX
    _BOX = settings.secret_box()


_BOX = None


async def invitation_links(db: Database, recipient: str) -> list[str]:
    async with db.unit_of_work() as s:
        bodies = (
            await s.scalars(
                sa.select(OutboundEmail.body)
                .where(OutboundEmail.recipient == recipient, OutboundEmail.template == "invitation")
                .order_by(OutboundEmail.created_at)
            )
        ).all()
    bodies = [json.loads(_BOX.open(b))["text"] for b in bodies]
    return [re.search(r"/invitation\?token=(\S+)", b).group(1) for b in bodies]


async def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_a_user_without_a_password_is_invited_and_the_link_works_once(stub, db: Database, world, passwords):
    md = await staff_md(stub, passwords)
    user = (
        await stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(customer_id=world.customer_a, email="newbie@acme.test"), metadata=md
        )
    ).portal_user
    (first,) = await invitation_links(db, "newbie@acme.test")
    # It cannot sign in with any password before accepting.
    no_password = identity_pb2.SignInRequest(login="newbie@acme.test", password="anything-at-all", audience=PORTAL)
    assert await code_of(stub.SignIn(no_password)) == grpc.StatusCode.UNAUTHENTICATED

    await stub.InvitePortalUser(identity_pb2.InvitePortalUserRequest(portal_user_id=user.id), metadata=md)
    first_again, second = await invitation_links(db, "newbie@acme.test")
    assert first_again == first
    check = identity_pb2.CheckPasswordTokenRequest(token=first)
    assert await code_of(stub.CheckPasswordToken(check)) == grpc.StatusCode.FAILED_PRECONDITION
    assert (await stub.CheckPasswordToken(identity_pb2.CheckPasswordTokenRequest(token=second))).purpose == "invite"

    accept = identity_pb2.SetPasswordWithTokenRequest(token=second, new_password="my-chosen-password")
    assert (await stub.SetPasswordWithToken(accept)).login == "newbie@acme.test"
    assert await code_of(stub.SetPasswordWithToken(accept)) == grpc.StatusCode.FAILED_PRECONDITION
    await stub.SignIn(
        identity_pb2.SignInRequest(login="newbie@acme.test", password="my-chosen-password", audience=PORTAL)
    )


async def test_always_invite_new_customers(stub, db: Database, world, passwords):
    md = await staff_md(stub, passwords)
    settings = (await stub.GetPortalSettings(identity_pb2.GetPortalSettingsRequest(), metadata=md)).settings
    assert not settings.always_invite_new_customers
    customer = (
        await stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(business_name="Quiet", email="quiet@quiet.test"), metadata=md
        )
    ).customer
    assert await invitation_links(db, "quiet@quiet.test") == []

    on = identity_pb2.PortalSettings(always_invite_new_customers=True)
    updated = await stub.UpdatePortalSettings(identity_pb2.UpdatePortalSettingsRequest(settings=on), metadata=md)
    assert updated.settings.always_invite_new_customers
    req = identity_pb2.CreateCustomerRequest(business_name="Loud", email="boss@loud.test", idempotency_key="loud-1")
    loud = (await stub.CreateCustomer(req, metadata=md)).customer
    await stub.CreateCustomer(req, metadata=md)  # a replay invites nobody twice
    await stub.CreateContact(
        identity_pb2.CreateContactRequest(customer_id=loud.id, name="Lou", email="lou@loud.test"), metadata=md
    )
    await stub.CreateContact(identity_pb2.CreateContactRequest(customer_id=customer.id, name="No mail"), metadata=md)
    assert len(await invitation_links(db, "boss@loud.test")) == 1
    assert len(await invitation_links(db, "lou@loud.test")) == 1

    alice = await stub.SignIn(
        identity_pb2.SignInRequest(login="alice@acme.test", password=passwords["alice"], audience=PORTAL)
    )
    alice_md = bearer_metadata(
        (
            await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=alice.session_token))
        ).principal_token
    )
    assert await code_of(stub.UpdatePortalSettings(identity_pb2.UpdatePortalSettingsRequest(), metadata=alice_md)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    invite = identity_pb2.InvitePortalUserRequest(portal_user_id=world.alice)
    assert await code_of(stub.InvitePortalUser(invite, metadata=alice_md)) == grpc.StatusCode.PERMISSION_DENIED


async def test_a_customer_that_wants_no_email_gets_no_invitation_on_any_create(stub, db: Database, world, passwords):
    """SPEC C3 "No email of any kind": "always invite" makes no portal user for it or its contacts, and the portal
    user its own portal access creates is made but not invited."""
    md = await staff_md(stub, passwords)
    on = identity_pb2.PortalSettings(always_invite_new_customers=True)
    await stub.UpdatePortalSettings(identity_pb2.UpdatePortalSettingsRequest(settings=on), metadata=md)
    silent = identity_pb2.CustomerSettings(no_email=True)
    quiet = (
        await stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(business_name="Quiet", email="q@quiet.test", settings=silent),
            metadata=md,
        )
    ).customer
    await stub.CreateContact(
        identity_pb2.CreateContactRequest(customer_id=quiet.id, name="Q", email="c@quiet.test"), metadata=md
    )
    with_access = (
        await stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(
                business_name="Hush",
                email="h@hush.test",
                settings=silent,
                portal_access=identity_pb2.PortalAccess(enabled=True),
            ),
            metadata=md,
        )
    ).customer
    assert with_access.portal_access.enabled
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 0
        logins = set((await s.scalars(sa.select(PortalUser.login).where(PortalUser.customer_id == quiet.id))).all())
    assert logins == set()
