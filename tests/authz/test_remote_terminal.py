"""Who may attach to a remote session's terminal (the WebSocket `/assets/{asset_id}/remote/{session_id}/ws`, outside
the HTTP matrix: routes_remote.WEBSOCKETS): only the user who opened the session, from a page of the gateway. A
socket without a session or from another origin is refused at the upgrade; another user of the same customer (with
every permission) or of another customer is closed with 4403 before a byte of the device's terminal reaches it; the
opener gets the device's shell. Ending a session is the opener's alone too."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from servicekit import permissions as perm
from servicekit.permissions import CATALOGUE
from tests.authz.routes_remote import device, grpc_end_session, make_session_as
from tests.authz.world import AuthzWorld

VIEW_ALL = frozenset({perm.ASSETS_VIEW_ALL})


def _socket(world: AuthzWorld, session_id: str, *, cookie: str | None, origin: str | None = None) -> ClientConnection:
    acme = world.customers["acme"]
    url = world.stack.gateway_url.replace("http", "ws", 1)
    path = f"/assets/{device(world, acme).asset_id}/remote/{session_id}/ws"
    headers = {"Cookie": f"portal_session={cookie}"} if cookie else {}
    return connect(
        url + path,
        origin=origin or world.stack.gateway_url,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=10,
        proxy=None,
    )


def _closed(ws: ClientConnection) -> tuple[int, list[object]]:
    """Everything the socket sends until it closes, and its close code."""
    got: list[object] = []
    try:
        while True:
            got.append(ws.recv(timeout=10))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, got


@pytest.fixture
def opened(authz_world: AuthzWorld) -> tuple[str, str]:
    """(the opener's session token, a remote session it opened on acme's probe device)."""
    acme = authz_world.customers["acme"]
    opener = authz_world.session(acme, VIEW_ALL)
    return opener, make_session_as(authz_world, acme, opener)


def test_no_session_or_a_foreign_origin_is_refused_at_the_upgrade(authz_world: AuthzWorld, opened) -> None:  # noqa: ANN001
    opener, session_id = opened
    for cookie, origin in ((None, None), ("not-a-session", None), (opener, "https://evil.example")):
        with pytest.raises(InvalidStatus) as refused:
            _socket(authz_world, session_id, cookie=cookie, origin=origin)
        assert refused.value.response.status_code == 403


@pytest.mark.parametrize("who", ["same-customer", "other-customer"])
def test_only_the_opener_attaches(authz_world: AuthzWorld, opened, who: str) -> None:  # noqa: ANN001
    _, session_id = opened
    customer = authz_world.customers["acme" if who == "same-customer" else "blueharbor"]
    other = authz_world.session(customer, frozenset(CATALOGUE))
    with _socket(authz_world, session_id, cookie=other) as ws:
        code, got = _closed(ws)
    assert code == 4403
    assert all(isinstance(m, str) for m in got), "no device output before the refusal"
    assert json.loads(got[-1])["type"] == "closed"


def test_the_opener_gets_the_device_shell(authz_world: AuthzWorld, opened) -> None:  # noqa: ANN001
    opener, session_id = opened
    with _socket(authz_world, session_id, cookie=opener) as ws:
        ws.send(b"echo authz-$((40+2))\n")
        seen, deadline = b"", time.monotonic() + 15
        while b"authz-42" not in seen:
            assert time.monotonic() < deadline, f"no shell output: {seen[-300:]!r}"
            message = ws.recv(timeout=15)
            if isinstance(message, bytes):
                seen += message


def test_only_the_opener_ends_a_session(authz_world: AuthzWorld, opened) -> None:  # noqa: ANN001
    """Another user of the same customer, with every permission, cannot end it (the page, the API and gRPC); the
    session is still open for its opener afterwards."""
    opener, session_id = opened
    acme = authz_world.customers["acme"]
    other = authz_world.session(acme, frozenset(CATALOGUE))
    with authz_world.http(other, page=False) as c:
        assert c.post(f"/api/v1/remote-sessions/{session_id}/end").status_code == 404
    assert grpc_code(authz_world, other, session_id) == grpc.StatusCode.NOT_FOUND
    with authz_world.http(opener, page=False) as c:
        ended = c.post(f"/api/v1/remote-sessions/{session_id}/end")
    assert ended.status_code == 200 and ended.json()["end_reason"] == "closed", ended.text


def grpc_code(world: AuthzWorld, session: str, session_id: str) -> grpc.StatusCode:
    try:
        grpc_end_session(world.grpc_addr, world.principal_token(session), session_id)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[attr-defined]
    return grpc.StatusCode.OK
