"""Many portal users signing in at once through the gateway, as browsers do: the storm test
(tests/e2e/test_signin_storm.py) and the soak bench (bench/signin_storm.py) share these."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass

import grpc
import httpx

from portal.common.v1 import common_pb2
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.seed import DEMO_CUSTOMERS
from portal_local.stack import Stack

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REFRESH = re.compile(r'http-equiv="refresh" content="(\d+);url=([^"]+)"')


@dataclass(frozen=True)
class User:
    login: str
    password: str


async def make_portal_users(stack: Stack, count: int, *, concurrency: int = 8) -> list[User]:
    """`count` portal users of the first demo customer, each with a contact of its own, made over identity's staff
    RPCs as the staff console makes them (a few at a time: each password is hashed by identity's pool)."""
    customer_email = DEMO_CUSTOMERS[0].email
    run = secrets.token_hex(3)
    async with grpc.aio.insecure_channel(stack.grpc_addr("identity"), options=[("grpc.enable_http_proxy", 0)]) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        signed = await stub.SignIn(
            identity_pb2.SignInRequest(
                login=stack.config.staff_email,
                password=stack.config.staff_password,
                audience=identity_pb2.AUDIENCE_STAFF,
            ),
            timeout=60,
        )
        resolved = await stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=signed.session_token), timeout=60
        )
        md = (("authorization", f"Bearer {resolved.principal_token}"),)
        page = common_pb2.PageRequest(page_size=100)
        customers = await stub.ListCustomers(identity_pb2.ListCustomersRequest(page=page), timeout=60, metadata=md)
        customer_id = next(c.id for c in customers.customers if c.email == customer_email)
        gate = asyncio.Semaphore(concurrency)

        async def make(n: int) -> User:
            login = f"storm-{run}-{n:04d}@{customer_email.split('@', 1)[1]}"
            password = f"storm-pass-{secrets.token_hex(6)}"
            async with gate:
                contact = await stub.CreateContact(
                    identity_pb2.CreateContactRequest(customer_id=customer_id, name=f"Storm {run} {n}", email=login),
                    timeout=60,
                    metadata=md,
                )
                await stub.CreatePortalUser(
                    identity_pb2.CreatePortalUserRequest(
                        customer_id=customer_id,
                        contact_id=contact.contact.id,
                        login=login,
                        email=login,
                        password=password,
                    ),
                    timeout=60,
                    metadata=md,
                )
            return User(login, password)

        return list(await asyncio.gather(*(make(n) for n in range(count))))


def client(stack: Stack, *, timeout: float = 60) -> httpx.AsyncClient:
    """One client for many users: no connection limit, redirects left to the caller, and idle connections dropped
    before uvicorn closes them (5 s), so a request never goes out on a connection the server is closing."""
    limits = httpx.Limits(max_connections=None, keepalive_expiry=2)
    return httpx.AsyncClient(base_url=stack.gateway_url, timeout=timeout, limits=limits, follow_redirects=False)


async def form_sign_in(c: httpx.AsyncClient, user: User, busy_pages: list[str] | None = None) -> str:
    """The sign-in form as a browser posts it; a 503 "Signing you in…" page is followed as its meta refresh would be
    (each one appended to `busy_pages`). The session token, or AssertionError saying what went wrong."""
    form = await c.get("/signin")
    assert form.status_code == 200, form.status_code
    # The cookies are Secure, so httpx keeps them off plain http: send them as a browser on https would.
    r = await c.post(
        "/signin",
        data={"login": user.login, "password": user.password, "csrf_token": _CSRF.search(form.text).group(1)},
        headers={"Cookie": f"portal_csrf={form.cookies['portal_csrf']}"},
    )
    for _ in range(30):
        if r.status_code != 503:
            break
        refresh = _REFRESH.search(r.text)
        assert refresh and r.headers["retry-after"] == refresh.group(1), (r.status_code, r.text[:300])
        if busy_pages is not None:
            busy_pages.append(r.text)
        await asyncio.sleep(int(refresh.group(1)))
        pending = f"portal_signin_pending={r.cookies['portal_signin_pending']}"
        r = await c.get(refresh.group(2), headers={"Cookie": pending})
    assert r.status_code == 303 and r.headers["location"] == "/", (r.status_code, r.text[:300])
    return r.cookies["portal_session"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


async def metric(stack: Stack, c: httpx.AsyncClient, service: str, name: str) -> float:
    """One unlabelled sample of a service's Prometheus metric (0 when absent)."""
    text = (await c.get(stack.metrics_url(service))).text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0
