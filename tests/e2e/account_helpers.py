"""Portal users of their own for the account tests, made over identity's staff RPCs, so the demo logins the
other tests use never change password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import grpc

from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.stack import Stack
from tests.e2e.helpers import ACME


@dataclass(frozen=True)
class NewUser:
    login: str
    password: str
    id: str


def _staff_md(stub: identity_pb2_grpc.IdentityServiceStub, stack: Stack) -> tuple[tuple[str, str], ...]:
    signed = stub.SignIn(
        identity_pb2.SignInRequest(
            login=stack.config.staff_email, password=stack.config.staff_password, audience=identity_pb2.AUDIENCE_STAFF
        ),
        timeout=10,
    )
    token = stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=10)
    return (("authorization", f"Bearer {token.principal_token}"),)


def new_portal_user(
    stack: Stack,
    *,
    group_name: str = "",
    customer_email: str = ACME.email,
    require_mfa: bool = False,
    invite: bool = False,
) -> NewUser:
    """A fresh portal user of a demo customer (a contact of its own), with a known password, or with none and an
    invitation email when `invite`."""
    suffix = secrets.token_hex(4)
    login = f"account-{suffix}@{customer_email.split('@', 1)[1]}"
    password = "" if invite else f"first-pass-{secrets.token_hex(6)}"
    with grpc.insecure_channel(stack.grpc_addr("identity"), options=[("grpc.enable_http_proxy", 0)]) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        md = _staff_md(stub, stack)
        customers = stub.ListCustomers(
            identity_pb2.ListCustomersRequest(page=common_pb2.PageRequest(page_size=100)), timeout=10, metadata=md
        ).customers
        customer_id = next(c.id for c in customers if c.email == customer_email)
        contact = stub.CreateContact(
            identity_pb2.CreateContactRequest(customer_id=customer_id, name=f"Account Test {suffix}", email=login),
            timeout=10,
            metadata=md,
        ).contact
        user = stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=customer_id,
                contact_id=contact.id,
                login=login,
                email=login,
                password=password,
                group_name=group_name,
                require_mfa=require_mfa,
            ),
            timeout=10,
            metadata=md,
        ).portal_user
    return NewUser(login=login, password=password, id=user.id)
