"""IdentityService in-process over a real localhost gRPC socket, as main.wire registers it."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import sqlalchemy as sa

from identity.sessions.models import UserSession
from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, TokenVerifier, bearer_metadata

PORTAL = identity_pb2.AUDIENCE_PORTAL
STAFF = identity_pb2.AUDIENCE_STAFF


async def sign_in(stub, login: str, password: str, audience: int = PORTAL) -> identity_pb2.SignInResponse:  # noqa: ANN001
    return await stub.SignIn(
        identity_pb2.SignInRequest(login=login, password=password, audience=audience, client_address="198.51.100.4"),
        timeout=10,
    )


async def principal_token(stub, login: str, password: str, audience: int = PORTAL) -> str:  # noqa: ANN001
    signed_in = await sign_in(stub, login, password, audience)
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed_in.session_token))
    return resolved.principal_token


async def status_of(call) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details()


async def test_sign_in_then_resolve_gives_a_token_other_services_accept(stub, world, passwords, signing_key) -> None:
    signed_in = await sign_in(stub, "alice@ACME.test", passwords["alice"])
    assert signed_in.session_token and signed_in.principal.subject_id == world.alice
    assert signed_in.expires_at.seconds > 0
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed_in.session_token))
    assert resolved.principal.kind == common_pb2.PRINCIPAL_KIND_PORTAL_USER
    assert resolved.principal.customer_id == world.customer_a
    assert list(resolved.principal.customer_ids) == [world.customer_a]
    # Exactly what tickets, billing and the rest do with it:
    p = TokenVerifier([signing_key.public_key()]).verify(resolved.principal_token)
    assert (p.kind, p.subject_id, p.customer_id, p.contact_id) == (
        KIND_PORTAL_USER,
        world.alice,
        world.customer_a,
        world.contact_a,
    )
    assert p.session_id == signed_in.principal.session_id
    assert resolved.token_expires_at.seconds <= signed_in.expires_at.seconds


async def test_staff_principal(stub, world, passwords, signing_key) -> None:
    token = await principal_token(stub, "ADMIN@example.test", passwords["staff"], STAFF)
    p = TokenVerifier([signing_key.public_key()]).verify(token)
    assert (p.kind, p.subject_id) == (KIND_STAFF, world.staff)


async def test_wrong_password_and_unknown_login_get_the_same_answer(stub, world, passwords) -> None:
    wrong = await status_of(sign_in(stub, "alice@acme.test", "not-her-password"))
    unknown = await status_of(sign_in(stub, "nobody@acme.test", "not-her-password"))
    assert wrong == unknown == (grpc.StatusCode.UNAUTHENTICATED, "the login or password is not correct")


@pytest.mark.parametrize(
    ("login", "password", "audience", "details"),
    [
        ("", "secret-pass", PORTAL, "login: enter your email or username"),
        ("alice@acme.test", "", PORTAL, "password: enter your password"),
        ("alice@acme.test", "secret-pass", identity_pb2.AUDIENCE_UNSPECIFIED, "audience: "),
    ],
)
async def test_empty_fields_are_invalid_argument(stub, world, login, password, audience, details) -> None:  # noqa: ANN001
    code, message = await status_of(sign_in(stub, login, password, audience))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith(details)


async def test_signed_out_and_expired_sessions_are_unauthenticated(stub, db: Database, world, passwords) -> None:
    first = await sign_in(stub, "alice@acme.test", passwords["alice"])
    await stub.SignOut(identity_pb2.SignOutRequest(session_token=first.session_token))
    await stub.SignOut(identity_pb2.SignOutRequest(session_token=first.session_token))  # idempotent
    code, _ = await status_of(
        stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=first.session_token))
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED

    second = await sign_in(stub, "alice@acme.test", passwords["alice"])
    async with db.unit_of_work() as s:
        await s.execute(
            sa.update(UserSession)
            .where(UserSession.id == second.principal.session_id)
            .values(expires_at=UserSession.created_at)
        )
    code, _ = await status_of(
        stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=second.session_token))
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _ = await status_of(stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token="made-up")))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_calls_other_than_sign_in_need_a_principal(stub, world) -> None:
    code, _ = await status_of(stub.GetCustomer(identity_pb2.GetCustomerRequest(customer_id=world.customer_a)))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _ = await status_of(
        stub.GetCustomer(
            identity_pb2.GetCustomerRequest(customer_id=world.customer_a), metadata=bearer_metadata("forged")
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_portal_user_cannot_create_or_list_customers(stub, world, passwords) -> None:
    md = bearer_metadata(await principal_token(stub, "alice@acme.test", passwords["alice"]))
    calls = [
        stub.CreateCustomer(identity_pb2.CreateCustomerRequest(business_name="X", email="x@x.test"), metadata=md),
        stub.ListCustomers(identity_pb2.ListCustomersRequest(), metadata=md),
        stub.CreateContact(identity_pb2.CreateContactRequest(customer_id=world.customer_a, name="Y"), metadata=md),
        stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=world.customer_a, email="y@acme.test", password="long-enough-pass"
            ),
            metadata=md,
        ),
    ]
    for call in calls:
        assert (await status_of(call))[0] == grpc.StatusCode.PERMISSION_DENIED


async def test_get_customer_gives_another_customers_id_as_not_found(stub, world, passwords) -> None:
    md = bearer_metadata(await principal_token(stub, "alice@acme.test", passwords["alice"]))
    own = await stub.GetCustomer(identity_pb2.GetCustomerRequest(customer_id=world.customer_a), metadata=md)
    assert own.customer.display_name == "Acme Dental"
    mine = await stub.GetCustomer(identity_pb2.GetCustomerRequest(), metadata=md)
    assert mine.customer.id == world.customer_a
    code, _ = await status_of(
        stub.GetCustomer(identity_pb2.GetCustomerRequest(customer_id=world.customer_b), metadata=md)
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_staff_create_and_list_customers_contacts_and_portal_users(stub, world, passwords) -> None:
    md = bearer_metadata(await principal_token(stub, "admin@example.test", passwords["staff"], STAFF))
    req = identity_pb2.CreateCustomerRequest(
        business_name="Blue Harbor", email="it@blueharbor.test", idempotency_key="s1"
    )
    created, again = await asyncio.gather(stub.CreateCustomer(req, metadata=md), stub.CreateCustomer(req, metadata=md))
    assert created.customer.id == again.customer.id
    assert created.customer.display_name == "Blue Harbor" and created.customer.created_at.seconds > 0

    code, details = await status_of(
        stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(business_name="Copy", email="IT@BlueHarbor.test"), metadata=md
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.ALREADY_EXISTS, "email")
    code, details = await status_of(
        stub.CreateCustomer(identity_pb2.CreateCustomerRequest(business_name="Bad", email="nope"), metadata=md)
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "email")

    contact = (
        await stub.CreateContact(
            identity_pb2.CreateContactRequest(
                customer_id=created.customer.id, name="Bob Lindqvist", email="bob@blueharbor.test", idempotency_key="c"
            ),
            metadata=md,
        )
    ).contact
    user = (
        await stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=created.customer.id,
                contact_id=contact.id,
                email="bob@blueharbor.test",
                password="demo-blue-123",
            ),
            metadata=md,
        )
    ).portal_user
    assert (user.login, user.group_name, user.contact_id) == ("bob@blueharbor.test", "Admin Portal Group", contact.id)
    code, details = await status_of(
        stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=created.customer.id, email="bob@blueharbor.test", password="demo-blue-123"
            ),
            metadata=md,
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.ALREADY_EXISTS, "login")
    code, details = await status_of(
        stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(customer_id=created.customer.id, email="c@b.test", password="short"),
            metadata=md,
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "password")

    signed_in = await sign_in(stub, "Bob@BlueHarbor.test", "demo-blue-123")
    assert signed_in.principal.display_name == "Bob Lindqvist"

    first = await stub.ListCustomers(
        identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=2)), metadata=md
    )
    assert len(first.customers) == 2 and first.page.next_cursor
    rest = await stub.ListCustomers(
        identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=2, cursor=first.page.next_cursor)),
        metadata=md,
    )
    assert [c.id for c in rest.customers][-1] == created.customer.id and not rest.page.next_cursor
    code, _ = await status_of(
        stub.ListCustomers(identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(cursor="%%")), metadata=md)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
