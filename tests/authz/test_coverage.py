"""Every route of the gateway is in the matrix, declared public, or staff-only; portal users never open staff
routes."""

from __future__ import annotations

import functools

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount, WebSocketRoute

from gateway.config import Settings
from gateway.main import create_app
from servicekit.permissions import CATALOGUE
from tests.authz.harness import all_public, all_routes, all_staff_prefixes, all_websockets
from tests.authz.world import AuthzWorld


@functools.cache
def _app_routes() -> frozenset[tuple[str, str, bool]]:
    """(method, path, is a WebSocket) of every route of the gateway's app. Built once per process: the app is the
    same every time, and the staff route lists ask for it once per route while they are collected (about 300
    apps, each compiling its templates, were half of the whole suite's collection time)."""
    settings = Settings(
        identity_addr="127.0.0.1:1",
        tickets_addr="127.0.0.1:1",
        billing_addr="127.0.0.1:1",
        assets_addr="127.0.0.1:1",
        remote_addr="127.0.0.1:1",
        session_secret="authz-coverage-only",  # noqa: S106 (never serves a request)
    )
    found: set[tuple[str, str, bool]] = set()

    def walk(routes: list, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                continue
            included = getattr(route, "original_router", None)
            if included is not None:  # FastAPI >= 0.165 keeps included routers as one entry each
                walk(included.routes, prefix + route.include_context.prefix)
                continue
            socket = isinstance(route, WebSocketRoute | APIWebSocketRoute)
            methods = route.methods if isinstance(route, APIRoute) else getattr(route, "methods", None) or {"GET"}
            found.update((m, prefix + route.path, socket) for m in methods if m != "HEAD")

    walk(create_app(settings).routes, "")
    return frozenset(found)


def gateway_routes() -> set[tuple[str, str]]:
    """Every (method, path) of the gateway, WebSockets included (as GET)."""
    return {(m, p) for m, p, _ in _app_routes()}


def gateway_websockets() -> set[str]:
    return {p for _, p, socket in _app_routes() if socket}


def _is_staff(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in all_staff_prefixes())


def test_every_gateway_route_is_registered_public_or_staff() -> None:
    registered = {(r.method, r.path) for r in all_routes()}
    sockets = {("GET", p) for p in all_websockets()}
    missing = sorted((m, p) for m, p in gateway_routes() - registered - all_public() - sockets if not _is_staff(p))
    assert not missing, (
        "add these routes to tests/authz/routes_<feature>.py (ROUTES, PUBLIC when no permission applies, WEBSOCKETS "
        f"for a WebSocket): {missing}"
    )


def test_declared_websockets_are_the_apps() -> None:
    portal = {p for p in gateway_websockets() if not _is_staff(p)}
    assert all_websockets() == portal, "WEBSOCKETS must list exactly the portal's WebSocket routes"


def test_registered_routes_exist() -> None:
    registered = {(r.method, r.path) for r in all_routes()} | {("GET", p) for p in all_websockets()}
    stale = sorted(registered - gateway_routes())
    assert not stale, f"tests/authz registers routes the gateway does not have: {stale}"


STAFF_GETS = sorted(
    p
    for m, p in gateway_routes() - all_public()
    if m == "GET" and _is_staff(p) and "{" not in p and p not in gateway_websockets()
)


@pytest.mark.parametrize("path", STAFF_GETS)
def test_a_portal_admin_never_opens_a_staff_route(authz_world: AuthzWorld, path: str) -> None:
    session = authz_world.session(authz_world.customers["acme"], frozenset(CATALOGUE))
    for page in (True, False):
        with authz_world.http(session, page=page) as client:
            r = client.get(path)
        assert r.status_code in (303, 401, 403, 404), f"{path}: {r.status_code}"
        if r.status_code == 303:
            assert r.headers["location"].startswith("/staff/signin")
