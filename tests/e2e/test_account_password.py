"""Issue 3 (SPEC P3, P11): password reset end to end through the SMTP catcher in Chromium, a reset link that
works once, the same answer for an unknown email, change password ending the other sessions within seconds,
and the lock-out through the gateway."""

from __future__ import annotations

import re
import time

import httpx

from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import api, mails, wait_for_mails

NEW_PASSWORD = "my-new-long-password-1"  # noqa: S105 (a test password)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _reset_link(stack, login: str) -> str:  # noqa: ANN001
    found = wait_for_mails(stack, lambda m: login in m["rcpt_to"] and "Reset" in m["subject"])
    assert len(found) == 1, [m["subject"] for m in mails(stack)]
    link = re.search(r"(http\S+/reset\?token=\S+)", found[0]["text"]).group(1)
    # The email's links use the stack's portal URL; the token is what matters.
    return stack.gateway_url + "/reset?" + link.split("?", 1)[1]


async def test_reset_by_email_in_the_browser_and_the_link_works_once(stack, page, tmp_path):  # noqa: ANN001
    user = new_portal_user(stack)
    await page.goto(stack.gateway_url + "/signin")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Email or username").fill(user.login)
    await page.get_by_role("button", name="Email me a reset link").click()
    sent = await page.locator("#forgot-sent").inner_text()
    assert "If an account matches" in sent

    link = _reset_link(stack, user.login)
    await page.goto(link)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password, again").fill(NEW_PASSWORD)
    await page.screenshot(path=str(tmp_path / "reset.png"), full_page=True)
    await page.get_by_role("button", name="Save my new password").click()
    await page.wait_for_url("**/reset/done")

    await page.goto(stack.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(user.login)
    await page.get_by_label("Password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.gateway_url + "/")

    # The link was used: it now only offers a new one, and the old password is gone.
    await page.goto(link)
    assert "This link no longer works" in await page.content()
    with api(stack) as c:
        r = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password})
        assert r.status_code == 401


async def test_the_headers_password_reset_emails_the_signed_in_user_a_link(stack, page, tmp_path):  # noqa: ANN001
    """Issue 15 (SPEC P3): the portal header's Password reset button emails the signed-in user a reset link."""
    user = new_portal_user(stack)
    await page.goto(stack.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(user.login)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.gateway_url + "/")
    await page.get_by_role("button", name="Password reset").click()
    await page.wait_for_url("**/account/password-reset?done=sent")
    assert "We emailed you a link" in await page.locator("#reset-email-sent").inner_text()
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(tmp_path / "reset-email-390.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390

    link = _reset_link(stack, user.login)
    await page.goto(link)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password, again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Save my new password").click()
    await page.wait_for_url("**/reset/done")
    with api(stack) as c:
        assert c.post("/api/v1/sessions", json={"login": user.login, "password": NEW_PASSWORD}).status_code == 201


async def test_the_header_offers_two_step_verification_until_it_is_on(stack, page):  # noqa: ANN001
    """Issue 15 (SPEC P3): a user without two-step verification opts in from the header's link (the existing
    enrolment pages, from a working session); once it is on, the header no longer offers it."""
    import pyotp

    user = new_portal_user(stack)
    await page.goto(stack.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(user.login)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.gateway_url + "/")
    await page.get_by_role("link", name="Set up two-step verification").click()
    secret = await page.locator("#mfa-secret").inner_text()
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on two-step verification").click()
    assert await page.locator("#recovery-codes li").count() == 10
    await page.goto(stack.gateway_url + "/")
    assert await page.get_by_role("button", name="Sign out").is_visible()
    assert await page.get_by_role("link", name="Set up two-step verification").count() == 0


def test_an_unknown_email_gets_the_same_answer_and_no_mail(stack):  # noqa: ANN001
    user = new_portal_user(stack)
    answers = []
    for login in (user.login, f"nobody-{user.id[:8]}@acme.test"):
        with httpx.Client(base_url=stack.gateway_url, timeout=15) as c:
            form = c.get("/forgot")
            token = _CSRF.search(form.text).group(1)
            # The CSRF cookie is Secure, so httpx keeps it off plain http: send it as a browser on https would.
            cookie = f"portal_csrf={c.cookies['portal_csrf']}"
            r = c.post("/forgot", data={"login": login, "csrf_token": token}, headers={"Cookie": cookie})
        assert r.status_code < 400, r.text
        answers.append((r.status_code, r.text.replace(token, "")))
    assert answers[0] == answers[1]
    wait_for_mails(stack, lambda m: user.login in m["rcpt_to"] and "Reset" in m["subject"])
    time.sleep(1.0)
    assert not [m for m in mails(stack) if f"nobody-{user.id[:8]}" in str(m["rcpt_to"])]


def test_a_forged_or_expired_link_is_refused(stack):  # noqa: ANN001
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as c:
        assert c.get("/reset", params={"token": "A" * 43}).status_code == 410
        assert c.get("/reset").status_code == 410


def test_forms_without_the_csrf_token_are_refused(stack):  # noqa: ANN001
    user = new_portal_user(stack)
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as c:
        assert c.post("/forgot", data={"login": user.login}).status_code == 403
        assert c.post("/reset", data={"token": "A" * 43, "new_password": NEW_PASSWORD}).status_code == 403
    with api(stack) as c:
        session = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}).json()
    with httpx.Client(
        base_url=stack.gateway_url, timeout=15, headers={"Cookie": f"portal_session={session['session_token']}"}
    ) as c:
        r = c.post(
            "/account/password",
            data={"current_password": user.password, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        )
        assert r.status_code == 403
    with api(stack) as c:
        assert c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}).status_code == 201


def test_changing_the_password_ends_the_other_sessions_within_seconds(stack):  # noqa: ANN001
    user = new_portal_user(stack)
    with api(stack) as c:
        other = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}).json()
        this = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}).json()
    with api(stack, other["session_token"]) as c:
        assert c.get("/api/v1/me").status_code == 200  # now cached by the gateway
    cookie = {"Cookie": f"portal_session={this['session_token']}"}
    with httpx.Client(base_url=stack.gateway_url, timeout=15, headers=cookie) as c:
        token = _CSRF.search(c.get("/account/password").text).group(1)
        wrong = c.post(
            "/account/password",
            data={
                "current_password": "not-my-password",
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf_token": token,
            },
        )
        assert wrong.status_code == 400 and "current password is not correct" in wrong.text
        r = c.post(
            "/account/password",
            data={
                "current_password": user.password,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf_token": token,
            },
        )
        assert r.status_code == 200 and 'id="password-changed"' in r.text
        changed_at = time.monotonic()
        assert c.get("/").status_code == 200, "the session that changed the password goes on"
    with api(stack, other["session_token"]) as c:
        while c.get("/api/v1/me").status_code == 200:
            assert time.monotonic() - changed_at < 10, "the other session still works 10 s later"
            time.sleep(0.25)
    assert time.monotonic() - changed_at < 10
    with api(stack) as c:
        assert c.post("/api/v1/sessions", json={"login": user.login, "password": NEW_PASSWORD}).status_code == 201


def test_200_wrong_passwords_through_the_gateway(stack):  # noqa: ANN001
    user = new_portal_user(stack)
    attacker = {"X-Forwarded-For": "192.0.2.77"}
    statuses = []
    with api(stack) as c:
        for i in range(200):
            r = c.post("/api/v1/sessions", json={"login": user.login, "password": f"guess-{i}"}, headers=attacker)
            statuses.append(r.status_code)
        right = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}, headers=attacker)
        owner = c.post(
            "/api/v1/sessions",
            json={"login": user.login, "password": user.password},
            headers={"X-Forwarded-For": "198.51.100.23"},
        )
    assert statuses.count(401) == 5 and statuses.count(429) == 195
    assert right.status_code == 429, "the right password from the attacker's address waits too"
    assert owner.status_code == 201, owner.text
