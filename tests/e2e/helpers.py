"""Small helpers the end-to-end tests share: sign in through the JSON API, read the mail catcher."""

from __future__ import annotations

import time

import grpc
import httpx

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.seed import DEMO_CUSTOMERS
from portal_local.stack import Stack
from portal_testkit.tls import TLS

ACME, BLUE = DEMO_CUSTOMERS[0], DEMO_CUSTOMERS[1]


def api(stack: Stack, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=15, verify=TLS)


def api_sign_in(stack: Stack, login: str, password: str) -> str:
    with api(stack) as c:
        r = c.post("/api/v1/sessions", json={"login": login, "password": password})
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def principal_token(stack: Stack, login: str, password: str) -> str:
    """A principal token straight from identity, as the gateway would get it."""
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        signed = stub.SignIn(
            identity_pb2.SignInRequest(login=login, password=password, audience=identity_pb2.AUDIENCE_PORTAL),
            timeout=10,
        )
        resolved = stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=10
        )
    return resolved.principal_token


def mails(stack: Stack) -> list[dict]:
    return httpx.get(f"{stack.mail_url}/api/messages", timeout=10, verify=TLS).json()


def wait_for_mails(stack: Stack, predicate, count: int = 1, limit: float = 60.0) -> list[dict]:
    """Poll the mail catcher until `count` messages match `predicate` (or fail with what arrived)."""
    deadline = time.monotonic() + limit
    while True:
        found = [m for m in mails(stack) if predicate(m)]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            arrived = [(m["rcpt_to"], m["subject"]) for m in mails(stack)][-20:]
            raise AssertionError(
                f"{len(found)} of {count} expected mails within {limit:.0f}s; the last ones: {arrived}"
            )
        time.sleep(0.25)


async def sign_in(page, base: str, path: str, login: str, password: str) -> None:  # noqa: ANN001
    """Sign in through the page at `path` ("/signin" or "/staff/signin") in a Playwright page."""
    await page.goto(base + path)
    await page.get_by_label("Email or username").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
