"""The sign-in pages' "Signing you in…" retry (web/signin_busy.py) over the fake backends: the pending attempt's
cookie is sealed, path-bound and short-lived; a retry signs in and ends it; anything else shows the form.
(The busy answers themselves, from a real identity over its bound, are in tests/e2e/test_signin_storm.py.)"""

from __future__ import annotations

import pytest
from starlette.requests import Request

from gateway.web import signin_busy
from gateway_tests.conftest import Gateway

pytestmark = pytest.mark.asyncio


def _sealed(gw: Gateway, password: str = "correct horse", next_path: str = "/tickets") -> str:
    request = Request({"type": "http", "app": gw.app, "headers": []})
    return signin_busy.seal(
        request, login="alice@acme.test", password=password, attempt_id="a" * 32, next_path=next_path
    )


def _forgets_pending(response) -> bool:  # noqa: ANN001
    return any(
        h.startswith(f"{signin_busy.PENDING_COOKIE}=") and "Max-Age=0" in h and "Path=/signin/pending" in h
        for h in response.headers.get_list("set-cookie")
    )


async def test_the_pending_attempt_signs_in_and_is_forgotten(gw: Gateway) -> None:
    gw.client.cookies.set(signin_busy.PENDING_COOKIE, _sealed(gw), path="/signin/pending")
    r = await gw.client.get("/signin/pending")
    assert r.status_code == 303 and r.headers["location"] == "/tickets"
    assert any(h.startswith("portal_session=") for h in r.headers.get_list("set-cookie"))
    assert _forgets_pending(r)


async def test_a_wrong_password_retried_shows_the_form_and_ends_the_attempt(gw: Gateway) -> None:
    gw.client.cookies.set(signin_busy.PENDING_COOKIE, _sealed(gw, password="wrong"), path="/signin/pending")
    r = await gw.client.get("/signin/pending")
    assert r.status_code == 401 and "do not match" in r.text
    assert _forgets_pending(r)


@pytest.mark.parametrize("cookie", ["", "garbage", "gAAAAAB" + "x" * 100, "y" * 5000])
async def test_no_tampered_or_missing_attempt_only_shows_the_form(gw: Gateway, cookie: str) -> None:
    if cookie:
        gw.client.cookies.set(signin_busy.PENDING_COOKIE, cookie, path="/signin/pending")
    r = await gw.client.get("/signin/pending")
    assert r.status_code == 200 and "waited too long" in r.text and 'name="password"' in r.text
    assert gw.world.calls.get("SignIn", 0) == 0


async def test_an_open_redirect_cannot_ride_in_the_attempt(gw: Gateway) -> None:
    gw.client.cookies.set(signin_busy.PENDING_COOKIE, _sealed(gw, next_path="//evil.example"), path="/signin/pending")
    r = await gw.client.get("/signin/pending")
    assert r.status_code == 303 and r.headers["location"] == "/"
