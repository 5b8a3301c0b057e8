"""Issue 12 (SPEC S1) in Chromium, on a stack of its own started with IDENTITY_REQUIRE_STAFF_ADMIN_MFA on (as in
prod): the admin is sent to enrol an authenticator at its first sign-in (/staff/mfa/enrol), gets its recovery
codes and reaches the console; its next sign-in asks for a code (/staff/mfa); the staff API's sign-in says so
(next_step) and the same /api/v1/sessions/current/mfa call finishes it, here with a recovery code.
Screenshots of both steps at 390 and 1280 px, en/fr."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from portal_local.s3 import WeedS3
from portal_local.stack import Stack, StackConfig
from tests.e2e.test_staff_tickets_browser import shots


@pytest.fixture(scope="module")
def mfa_stack(tmp_path_factory: pytest.TempPathFactory, s3_server: WeedS3) -> Iterator[Stack]:
    var: Path = tmp_path_factory.mktemp("admin-mfa") / "var"
    # The session's S3 server, as the session's stack uses it: one weed less to start and stop.
    config = StackConfig(var_dir=var, free_ports=True, s3=s3_server, env={"IDENTITY_REQUIRE_STAFF_ADMIN_MFA": "true"})
    with Stack(config) as running:
        yield running


async def _password_step(page, base: str, login: str, password: str) -> None:  # noqa: ANN001
    await page.goto(base + "/staff/signin")
    await page.get_by_label("Email or username").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_an_admin_enrols_mfa_at_its_first_sign_in_then_gives_a_code(mfa_stack: Stack, page, browser) -> None:  # noqa: ANN001
    base, login, password = mfa_stack.gateway_url, mfa_stack.config.staff_email, mfa_stack.config.staff_password
    await _password_step(page, base, login, password)
    await page.wait_for_url("**/staff/mfa/enrol?next=/staff")
    # Until the second step is done the console sends the browser back to it, cookie kept.
    await page.goto(base + "/staff/tickets")
    assert "/staff/mfa/enrol" in page.url
    await shots(browser, base, await page.context.cookies(), {"mfa-enrol": "/staff/mfa/enrol?next=/staff"})
    # Each visit makes a new secret: the one on this page is the one to confirm.
    await page.goto(base + "/staff/mfa/enrol?next=/staff")
    secret = (await page.locator("#mfa-secret").inner_text()).strip()
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on two-step verification").click()
    codes = [c.strip() for c in await page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == 10
    await page.get_by_role("link", name="I have saved them, continue").click()
    await page.wait_for_url(base + "/staff")
    assert await page.get_by_role("link", name="Team", exact=True).count() == 1

    # The next sign-in asks for a code.
    await page.context.clear_cookies()
    await _password_step(page, base, login, password)
    await page.wait_for_url("**/staff/mfa?next=/staff")
    await shots(browser, base, await page.context.cookies(), {"mfa-code": "/staff/mfa?next=/staff"})
    await page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    await page.get_by_role("button", name="Verify").click()
    await page.wait_for_url(base + "/staff")

    # The staff JSON API: next_step, then the same MFA call as portal users, then the token works.
    def api_flow() -> None:
        with httpx.Client(base_url=base, timeout=15) as c:
            r = c.post("/api/v1/staff/sessions", json={"login": login, "password": password})
            assert r.status_code == 201 and r.json()["next_step"] == "mfa_code", r.text
            bearer = {"Authorization": f"Bearer {r.json()['session_token']}"}
            assert c.get("/api/v1/staff/staff-users", headers=bearer).status_code == 401
            # Both TOTP steps around now are used up: a recovery code, once.
            r = c.post("/api/v1/sessions/current/mfa", json={"code": codes[0]}, headers=bearer)
            assert r.status_code == 200 and r.json()["recovery_codes_left"] == 9, r.text
            assert c.get("/api/v1/staff/staff-users", headers=bearer).status_code == 200

    await asyncio.to_thread(api_flow)
