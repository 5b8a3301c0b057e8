"""Sign-in storms through the real gateway and identity (docs/identity.md, "Password hashing under load").

- 150 distinct portal users, made through identity's staff RPCs, sign in through the sign-in form at the same
  moment: every one is signed in, with no error and no refusal (150 is within identity's queue bound), and the
  p99 time is printed.
- Over the bound, the answer is the clear busy path at once: the API's 503 `sign-in-busy` problem with
  Retry-After, the page's 503 "Signing you in…" that retries by itself and then signs in; never a 500 or a hang.
  On the stack's SQLite, identity's one database connection admits sign-ins more slowly than two workers hash
  them, so a 200-place queue cannot be filled from outside: this test starts a second identity with one worker
  and one queue place (and a gateway in front of it) beside the stack, about 10 s.

Both use the session's stack; the users are made once for the module.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.nats import NatsServer
from portal_local.ports import free_port
from portal_local.procs import ManagedProcess
from portal_local.stack import Stack, grpc_serving
from portal_testkit.signin_storm import User, client, form_sign_in, make_portal_users, metric, percentile

USERS = 150
# identity's default IDENTITY_HASHING_QUEUE (users.hashing.DEFAULT_QUEUE).
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    return _CSRF.search(html).group(1)


def http_status(url: str, timeout: float) -> int:
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return 0


@pytest.fixture(scope="module")
async def users(stack: Stack) -> list[User]:
    return await make_portal_users(stack, USERS)


async def test_150_users_sign_in_through_the_form_at_once_with_no_error(stack: Stack, users: list[User]) -> None:
    busy_pages: list[str] = []
    errors: list[str] = []
    times: list[float] = []

    async def one(user: User) -> str:
        started = time.perf_counter()
        try:
            token = await form_sign_in(c, user, busy_pages)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            errors.append(f"{user.login}: {exc!r}")
            return ""
        times.append(time.perf_counter() - started)
        return token

    async with client(stack) as c:
        refused_before = await metric(stack, c, "identity", "portal_identity_hashing_refused_total")
        started = time.perf_counter()
        tokens = await asyncio.gather(*(one(u) for u in users))
        wall = time.perf_counter() - started
        refused = await metric(stack, c, "identity", "portal_identity_hashing_refused_total") - refused_before
        print(
            f"\nsign-in storm: {len(users)} users through the form at once: {len(errors)} errors, "
            f"{len(busy_pages)} busy pages, {refused:g} refused by identity, p50 {percentile(times, 0.5):.2f} s, "
            f"p99 {percentile(times, 0.99):.2f} s, all done in {wall:.1f} s"
        )
        assert errors == []
        assert refused == 0  # within the queue's bound identity refuses nothing
        assert busy_pages == []  # and the gateway's sign-in deadline covers the queue
    async with client(stack) as c:
        me = await asyncio.gather(*(c.get("/api/v1/me", headers={"Authorization": f"Bearer {t}"}) for t in tokens))
    assert [r.status_code for r in me] == [200] * len(users)
    assert {r.json()["email"] for r in me} == {u.login for u in users}


@dataclass
class SmallQueue:
    """A second identity whose pool has one worker and room for one waiting hash, and a gateway in front of it."""

    identity_grpc: str
    identity_metrics: str
    gateway_url: str


@pytest.fixture(scope="module")
def small_queue(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallQueue]:
    """Started beside the session's stack (its keys, mail catcher and other backends), with its own database and
    NATS so it takes no event meant for the stack's identity. About 10 s to start."""
    tmp = tmp_path_factory.mktemp("small-queue")
    nats = NatsServer(tmp / "nats", log_path=tmp / "nats.log").start()
    grpc_port, identity_metrics, http_port = free_port(), free_port(), free_port()
    base = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
    identity_env = {
        **base,
        **stack.env_for("identity"),
        "IDENTITY_GRPC_PORT": str(grpc_port),
        "IDENTITY_METRICS_PORT": str(identity_metrics),
        "IDENTITY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'identity.db'}",
        "IDENTITY_NATS_URL": nats.url,
        "IDENTITY_HASHING_WORKERS": "1",
        "IDENTITY_HASHING_QUEUE": "1",
    }
    gateway_env = {
        **base,
        **stack.env_for("gateway"),
        "GATEWAY_IDENTITY_ADDR": f"127.0.0.1:{grpc_port}",
        "GATEWAY_HTTP_PORT": str(http_port),
        "GATEWAY_METRICS_PORT": "0",
        "GATEWAY_NATS_URL": nats.url,
    }
    procs = [
        ManagedProcess("identity-small", [sys.executable, "-m", "identity"], log_path=tmp / "i.log", env=identity_env),
        ManagedProcess("gateway-small", [sys.executable, "-m", "gateway"], log_path=tmp / "g.log", env=gateway_env),
    ]
    gateway_url = f"http://127.0.0.1:{http_port}"
    try:
        for proc in procs:
            proc.start()
        deadline = time.monotonic() + 60
        # Ready means the gateway reaches identity (/readyz checks its backends): identity now migrates in a child
        # process first, and a gateway whose first connection attempt came too early waits out gRPC's backoff.
        while not (grpc_serving(f"127.0.0.1:{grpc_port}") and http_status(f"{gateway_url}/readyz", 1.0) == 200):
            assert all(p.running for p in procs) and time.monotonic() < deadline, [p.log_tail() for p in procs]
            time.sleep(0.2)
        yield SmallQueue(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{identity_metrics}/metrics", gateway_url)
    finally:
        for proc in procs:
            proc.stop()
        nats.stop()


async def test_over_the_bound_the_answer_is_busy_at_once_and_the_page_retries_until_signed_in(
    stack: Stack, small_queue: SmallQueue
) -> None:
    staff = User(stack.config.staff_email, stack.config.staff_password)
    stop = asyncio.Event()
    flood_codes: list[grpc.StatusCode] = []

    async def flooder(stub: identity_pb2_grpc.IdentityServiceStub) -> None:
        """Staff sign-ins back to back, so the one worker and the one queue place stay taken."""
        request = identity_pb2.SignInRequest(
            login=staff.login, password=staff.password, audience=identity_pb2.AUDIENCE_STAFF
        )
        while not stop.is_set():
            try:
                await stub.SignIn(request, timeout=30)
                flood_codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as err:
                flood_codes.append(err.code())
                await asyncio.sleep(0.02)

    async with grpc.aio.insecure_channel(small_queue.identity_grpc, options=[("grpc.enable_http_proxy", 0)]) as ch:
        flooders = [asyncio.create_task(flooder(identity_pb2_grpc.IdentityServiceStub(ch))) for _ in range(6)]
        limits = httpx.Limits(max_connections=None, keepalive_expiry=2)
        async with httpx.AsyncClient(base_url=small_queue.gateway_url, timeout=60, limits=limits) as c:
            # The API, portal (an unknown login costs a hash too) and staff: each answer is either what the
            # credentials say or the clear busy problem, at once; at least one is busy.
            api: list[tuple[httpx.Response, float]] = []
            for path, body in [("/api/v1/sessions", {"login": "nobody@acme.test", "password": "x" * 12})] * 4 + [
                ("/api/v1/staff/sessions", {"login": staff.login, "password": staff.password})
            ] * 4:
                started = time.perf_counter()
                r = await c.post(path, json=body, headers={"Idempotency-Key": secrets.token_urlsafe(16)})
                api.append((r, time.perf_counter() - started))
            busy = [(r, took) for r, took in api if r.status_code == 503]
            assert {r.status_code for r, _ in api} <= {201, 401, 503}, [r.text for r, _ in api]
            assert busy, [r.status_code for r, _ in api]
            for r, took in busy:
                assert took < 2, took
                assert r.headers["content-type"].startswith("application/problem+json")
                assert 1 <= int(r.headers["retry-after"]) <= 10
                problem = r.json()
                assert problem["type"].endswith("/sign-in-busy") and "Retry" in problem["detail"], problem
            # The staff form: "Signing you in…" (503, Retry-After, a meta refresh) until the flood stops, then in.
            for _ in range(5):
                form = await c.get("/staff/signin")
                r = await c.post(
                    "/staff/signin",
                    data={"login": staff.login, "password": staff.password, "csrf_token": csrf_token(form.text)},
                    headers={"Cookie": f"portal_csrf={form.cookies['portal_csrf']}"},
                )
                if r.status_code == 503:
                    break
            assert r.status_code == 503 and "Signing you in" in r.text, (r.status_code, r.text[:300])
            wait = int(r.headers["retry-after"])
            assert f'http-equiv="refresh" content="{wait};url=/staff/signin/pending"' in r.text
            stop.set()
            await asyncio.gather(*flooders)
            pending = f"portal_signin_pending={r.cookies['portal_signin_pending']}"
            await asyncio.sleep(wait)
            again = await c.get("/staff/signin/pending", headers={"Cookie": pending})
            assert again.status_code == 303 and again.headers["location"] == "/staff", again.text[:300]
            assert again.cookies["staff_session"]
            # The attempt is over: the browser drops its pending cookie.
            assert any(
                h.startswith("portal_signin_pending=") and "Max-Age=0" in h
                for h in again.headers.get_list("set-cookie")
            )
    print(
        f"\nover the bound: {len(busy)} of {len(api)} API sign-ins told to retry in at most "
        f"{max(t for _, t in busy) * 1000:.0f} ms; the staff form showed 'Signing you in…' and then signed in; "
        f"flood: " + ", ".join(f"{code.name} {flood_codes.count(code)}" for code in set(flood_codes))
    )
    assert set(flood_codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
