"""Masked credentials (SPEC A5, X8) in the authorisation matrix: the portal pages and JSON routes open with
Credentials - View All or View Mine; the probed credential is public and belongs to the customer's harness contact
(so both permissions see it), made by staff through the staff API. Another customer's credential is 404, and so is
a private one (tests/e2e/test_credentials_api.py). The staff routes are under the STAFF_PREFIXES of routes_account.py:
test_staff_routes_refused.py sends customer tokens to each of them."""

from __future__ import annotations

import secrets

import grpc
import httpx

from portal.assets.v1 import credentials_pb2, credentials_pb2_grpc
from servicekit import permissions as perm
from tests.authz.harness import Route

VIEW = (perm.CREDENTIALS_VIEW_ALL, perm.CREDENTIALS_VIEW_MINE)


def _staff_client(world) -> httpx.Client:  # noqa: ANN001
    with httpx.Client(base_url=world.stack.gateway_url, timeout=15) as c:
        r = c.post(
            "/api/v1/staff/sessions",
            json={"login": world.stack.config.staff_email, "password": world.stack.config.staff_password},
        )
    assert r.status_code == 201, r.text
    return httpx.Client(
        base_url=world.stack.gateway_url, headers={"Authorization": f"Bearer {r.json()['session_token']}"}, timeout=15
    )


def make_credential(world, customer) -> str:  # noqa: ANN001
    with _staff_client(world) as c:
        r = c.post(
            "/api/v1/staff/credentials",
            json={
                "customer_id": customer.id,
                "contact_id": customer.contact_id,
                "name": "Authz probe router",
                "username": "admin",
                "password": "authz-probe-password",
                "public": True,
            },
            headers={"Idempotency-Key": secrets.token_urlsafe(18)},
        )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _stub(addr, token: str):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(addr("assets"), options=[("grpc.enable_http_proxy", 0)])
    return channel, credentials_pb2_grpc.CredentialsServiceStub(channel), (("authorization", f"Bearer {token}"),)


def grpc_list(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListCredentials(credentials_pb2.ListCredentialsRequest(), timeout=10, metadata=md)


def grpc_get(addr, token: str, credential_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetCredential(credentials_pb2.GetCredentialRequest(credential_id=credential_id), timeout=10, metadata=md)


def grpc_reveal(addr, token: str, credential_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.RevealCredential(
            credentials_pb2.RevealCredentialRequest(credential_id=credential_id), timeout=10, metadata=md
        )


def grpc_access(addr, token: str, credential_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListCredentialAccess(
            credentials_pb2.ListCredentialAccessRequest(credential_id=credential_id), timeout=10, metadata=md
        )


ROUTES = [
    Route("GET", "/credentials", VIEW, grpc=grpc_list),
    Route("GET", "/credentials/{credential_id}", VIEW, "credential_id", make_credential, grpc=grpc_get),
    Route(
        "POST",
        "/credentials/{credential_id}/reveal",
        VIEW,
        "credential_id",
        make_credential,
        form={},
        grpc=grpc_reveal,
    ),
    Route("GET", "/api/v1/credentials", VIEW, grpc=grpc_list),
    Route("GET", "/api/v1/credentials/{credential_id}", VIEW, "credential_id", make_credential, grpc=grpc_get),
    Route(
        "POST", "/api/v1/credentials/{credential_id}/reveal", VIEW, "credential_id", make_credential, grpc=grpc_reveal
    ),
    Route(
        "GET", "/api/v1/credentials/{credential_id}/access", VIEW, "credential_id", make_credential, grpc=grpc_access
    ),
]
