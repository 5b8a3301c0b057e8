"""Issue 16: the gateway keeps a resolved session for GATEWAY_SESSION_CACHE_SECONDS (300 s) and identity's session
events end it on every replica at once. Two gateway replicas: the session stack's own and a second process started
here over the same services, whose NATS connection passes through a cuttable TCP relay.

Sign-out, password change, a group change that removes permissions, a user's deactivation and a secure link's
revocation each take effect on both replicas within 1 s although the cache would keep the answer 300 s; with NATS
away the second replica falls back to the short TTL and catches up when it is back; N page views of one session
cost one ResolveSession."""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_local.procs import ManagedProcess
from portal_local.stack import Stack
from portal_testkit.tls import TLS
from tests.e2e.helpers import api, api_sign_in

# The second replica's fallback TTL (GATEWAY_PRINCIPAL_CACHE_SECONDS; 5 s by default), short to keep the test quick.
SHORT_TTL = 2.0
WITHIN = 1.0


class Relay:
    """A TCP relay to NATS for the second replica: `cut()` closes every connection and refuses new ones, as a
    network partition would, until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = 0
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@dataclass
class Replica:
    url: str
    metrics_url: str
    process: ManagedProcess

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(self.metrics_url, timeout=5, verify=TLS).text
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pattern = re.compile(rf"^{re.escape(name)}(?:\{{{re.escape(want)}\}})? ([0-9.e+-]+)$", re.M)
        found = pattern.search(text)
        return float(found.group(1)) if found else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def relay(stack: Stack) -> Iterator[Relay]:
    r = Relay(stack.ports["nats"])
    yield r
    r.cut()


@pytest.fixture(scope="module")
def second(stack: Stack, relay: Relay) -> Iterator[Replica]:
    """A second gateway process over the stack's services; its NATS goes through `relay`."""
    port, metrics_port = _free_port(), _free_port()
    env = stack._child_env("gateway")  # noqa: SLF001 - exactly the stack gateway's environment, then ours
    env.update(
        {
            "GATEWAY_HTTP_PORT": str(port),
            "GATEWAY_METRICS_PORT": str(metrics_port),
            "GATEWAY_NATS_URL": f"nats://127.0.0.1:{relay.port}",
            "GATEWAY_PRINCIPAL_CACHE_SECONDS": str(SHORT_TTL),
            "GATEWAY_BACKEND_HEALTH_INTERVAL_SECONDS": "0",
        }
    )
    proc = ManagedProcess("gateway-2", [sys.executable, "-m", "gateway"], log_path=stack.log_path("gateway-2"), env=env)
    proc.start()
    replica = Replica(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", proc)
    try:
        _until(lambda: _ready(replica) and replica.metric("portal_gateway_session_events_connected") == 1, 90, 0.2)
        yield replica
    finally:
        proc.stop()


def _ready(replica: Replica) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(replica.url + "/healthz", timeout=1, verify=TLS).status_code == 200
    return False


def _until(check: Callable[[], bool], limit: float, step: float = 0.02) -> float:
    """Seconds until `check()` holds; fails after `limit`."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < limit, f"not within {limit} s"
        time.sleep(step)
    return time.monotonic() - start


def _me(url: str, token: str) -> httpx.Response:
    return httpx.get(url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10, verify=TLS)


def _replicas(stack: Stack, second: Replica) -> list[str]:
    return [stack.gateway_url, second.url]


def _warm(urls: list[str], token: str) -> None:
    """Both replicas hold the session (the second look-up on each is a cache hit)."""
    for url in urls:
        for _ in range(2):
            assert _me(url, token).status_code == 200


def _ended_everywhere(urls: list[str], token: str) -> float:
    return max(_until(lambda u=u: _me(u, token).status_code == 401, WITHIN) for u in urls)


def _staff(stack: Stack) -> httpx.Client:
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


@dataclass(frozen=True)
class User:
    customer_id: str
    user_id: str
    login: str
    password: str


def _new_user(staff: httpx.Client) -> User:
    """A customer of its own and its own portal user (Admin Portal Group) with a known password."""
    suffix = secrets.token_hex(4)
    r = staff.post(
        "/api/v1/staff/customers", json={"business_name": f"Cache {suffix}", "email": f"c-{suffix}@e2e.test"}
    )
    assert r.status_code == 201, r.text
    customer = r.json()
    login, password = f"u-{suffix}@e2e.test", f"cache-pass-{suffix}-x"
    r = staff.post(
        f"/api/v1/staff/customers/{customer['id']}/portal-users", json={"email": login, "password": password}
    )
    assert r.status_code == 201, r.text
    return User(customer["id"], r.json()["id"], login, password)


def test_the_second_replica_keeps_sessions_long_and_asks_identity_once(stack: Stack, second: Replica) -> None:
    with _staff(stack) as staff:
        user = _new_user(staff)
    token = api_sign_in(stack, user.login, user.password)
    cookie = {"Cookie": f"portal_session={token}"}
    hits = second.metric("portal_gateway_session_cache_lookups_total", result="hit")
    misses = second.metric("portal_gateway_session_cache_lookups_total", result="miss")
    resolves = _identity_resolves(stack)
    views = 20
    with httpx.Client(base_url=second.url, headers=cookie, timeout=15, follow_redirects=False) as c:
        for _ in range(views):
            assert c.get("/tickets").status_code == 200
    assert second.metric("portal_gateway_session_cache_lookups_total", result="miss") - misses == 1
    assert second.metric("portal_gateway_session_cache_lookups_total", result="hit") - hits == views - 1
    assert _identity_resolves(stack) - resolves == 1, f"{views} page views, one ResolveSession"


def _identity_resolves(stack: Stack) -> float:
    text = httpx.get(stack.metrics_url("identity"), timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("portal_identity_grpc_requests_total{") and "ResolveSession" in line
    )


def test_sign_out_ends_the_session_on_both_replicas(stack: Stack, second: Replica) -> None:
    with _staff(stack) as staff:
        user = _new_user(staff)
    urls = _replicas(stack, second)
    for signed_out_at in urls:
        token = api_sign_in(stack, user.login, user.password)
        _warm(urls, token)
        r = httpx.delete(signed_out_at + "/api/v1/sessions/current", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 204
        assert _ended_everywhere(urls, token) < WITHIN


def test_a_password_change_ends_the_other_sessions_on_both_replicas(stack: Stack, second: Replica) -> None:
    with _staff(stack) as staff:
        user = _new_user(staff)
    urls = _replicas(stack, second)
    other = api_sign_in(stack, user.login, user.password)
    _warm(urls, other)
    with grpc.insecure_channel(stack.grpc_addr("identity"), options=[("grpc.enable_http_proxy", 0)]) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        current = stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=api_sign_in(stack, user.login, user.password)), timeout=10
        )
        changed = stub.ChangePassword(
            identity_pb2.ChangePasswordRequest(current_password=user.password, new_password=user.password + "-2"),
            metadata=(("authorization", f"Bearer {current.principal_token}"),),
            timeout=10,
        )
    assert changed.sessions_revoked >= 1
    assert _ended_everywhere(urls, other) < WITHIN


def test_a_group_change_removes_the_permission_on_both_replicas(stack: Stack, second: Replica) -> None:
    with _staff(stack) as staff:
        user = _new_user(staff)
        urls = _replicas(stack, second)
        token = api_sign_in(stack, user.login, user.password)
        _warm(urls, token)
        assert all("invoices.view_all" in _me(u, token).json()["permissions"] for u in urls)
        r = staff.put(f"/api/v1/staff/portal-users/{user.user_id}/group", json={"group_name": "Non-Portal User Group"})
        assert r.status_code == 200, r.text
    took = max(_until(lambda u=u: "invoices.view_all" not in _me(u, token).json()["permissions"], WITHIN) for u in urls)
    assert took < WITHIN
    for u in urls:
        invoices = httpx.get(u + "/api/v1/invoices", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert invoices.status_code == 403


def test_deactivating_the_user_ends_its_sessions_on_both_replicas(stack: Stack, second: Replica) -> None:
    with _staff(stack) as staff:
        user = _new_user(staff)
        urls = _replicas(stack, second)
        token = api_sign_in(stack, user.login, user.password)
        _warm(urls, token)
        customer = staff.get(f"/api/v1/staff/customers/{user.customer_id}").json()
        body = {
            "business_name": customer["business_name"],
            "email": customer["email"],
            "portal_access": {"enabled": False},
        }
        r = staff.put(f"/api/v1/staff/customers/{user.customer_id}", json=body)
        assert r.status_code == 200, r.text
    assert _ended_everywhere(urls, token) < WITHIN


def test_revoking_a_secure_link_ends_its_sessions_on_both_replicas(stack: Stack, second: Replica) -> None:
    with _staff(stack) as staff:
        user = _new_user(staff)
        r = staff.post(f"/api/v1/staff/customers/{user.customer_id}/secure-links", json={"scope": "customer"})
        assert r.status_code == 201, r.text
        link = r.json()
        opened = httpx.get(stack.gateway_url + "/link", params={"token": link["token"]}, timeout=15)
        assert opened.status_code == 303, opened.text
        session = opened.cookies["portal_session"]
        urls = _replicas(stack, second)

        def signed_in(url: str) -> bool:
            r = httpx.get(url + "/tickets", headers={"Cookie": f"portal_session={session}"}, timeout=10)
            return r.status_code == 200

        for url in urls:
            assert signed_in(url) and signed_in(url)
        assert staff.post(f"/api/v1/staff/secure-links/{link['link']['id']}/revoke").status_code == 200
    assert max(_until(lambda u=u: not signed_in(u), WITHIN) for u in urls) < WITHIN


def test_with_nats_away_the_cache_falls_back_to_the_short_ttl(stack: Stack, second: Replica, relay: Relay) -> None:
    with _staff(stack) as staff:
        user = _new_user(staff)
    urls = _replicas(stack, second)
    cached = api_sign_in(stack, user.login, user.password)
    _warm(urls, cached)
    try:
        relay.cut()
        _until(lambda: second.metric("portal_gateway_session_events_connected") == 0, 5)
        # Signed out on the first replica: the event never reaches the second, whose entry (cached for 300 s
        # before the cut) now lives at most SHORT_TTL.
        assert (
            httpx.delete(
                stack.gateway_url + "/api/v1/sessions/current", headers={"Authorization": f"Bearer {cached}"}
            ).status_code
            == 204
        )
        assert _until(lambda: _me(second.url, cached).status_code == 401, SHORT_TTL + 1.5) <= SHORT_TTL + 1.5
        # An answer loaded meanwhile is kept SHORT_TTL only: identity is asked again after it.
        fresh = api_sign_in(stack, user.login, user.password)
        misses = second.metric("portal_gateway_session_cache_lookups_total", result="miss")
        assert _me(second.url, fresh).status_code == 200
        assert _me(second.url, fresh).status_code == 200
        assert second.metric("portal_gateway_session_cache_lookups_total", result="miss") - misses == 1
        time.sleep(SHORT_TTL + 0.2)
        assert _me(second.url, fresh).status_code == 200
        assert second.metric("portal_gateway_session_cache_lookups_total", result="miss") - misses == 2
    finally:
        relay.restore()
    # Back: the subscription is live again, and an event ends a session cached since (long TTL) within the second.
    _until(lambda: second.metric("portal_gateway_session_events_connected") == 1, 10)
    again = api_sign_in(stack, user.login, user.password)
    _warm(urls, again)
    r = httpx.delete(stack.gateway_url + "/api/v1/sessions/current", headers={"Authorization": f"Bearer {again}"})
    assert r.status_code == 204
    assert _ended_everywhere(urls, again) < WITHIN
