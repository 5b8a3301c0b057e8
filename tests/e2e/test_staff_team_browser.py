"""Issue 12 (SPEC S1) in Chromium: an admin invites a technician from /staff/team; the technician accepts from the
email the SMTP catcher caught, chooses a password and signs in; it opens the ticket queue but is refused the team
page, the staff management API, group editing and the portal settings (403, decided by identity); the admin
deactivates it after a confirmation page and its session ends at once. Screenshots of the team page, the
deactivation page and the invitation page at 390 and 1280 px, en/fr."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid

from tests.e2e.helpers import api, mails, wait_for_mails
from tests.e2e.test_staff_tickets_browser import SHOTS, shots


async def _sign_in(page, base: str, login: str, password: str) -> None:  # noqa: ANN001
    await page.goto(base + "/staff/signin")
    await page.get_by_label("Email or username").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + "/staff")


def _staff_api_token(stack, login: str, password: str) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post("/api/v1/staff/sessions", json={"login": login, "password": password})
    assert r.status_code == 201, r.text
    assert r.json()["next_step"] == "done"
    return r.json()["session_token"]


async def test_an_admin_invites_a_technician_who_is_refused_the_admin_pages(stack, page, browser) -> None:  # noqa: ANN001
    base = stack.gateway_url
    tag = uuid.uuid4().hex[:8]
    email, name, password = f"tech-{tag}@example.test", f"Tess Tech {tag}", f"tech-pw-{tag}-long"

    # The admin (make run's bootstrap account) invites a technician.
    await _sign_in(page, base, stack.config.staff_email, stack.config.staff_password)
    await page.get_by_role("link", name="Team", exact=True).click()
    await page.wait_for_url(base + "/staff/team")
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Role", exact=True).select_option("technician")
    await page.get_by_role("button", name="Send invitation").click()
    await page.get_by_text("Invitation sent.").wait_for()
    row = page.locator(f'li[data-email="{email}"]')
    assert "Invited" in await row.inner_text()

    mail = (await asyncio.to_thread(wait_for_mails, stack, lambda m: email in m["rcpt_to"], 1))[0]
    assert "staff console" in mail["subject"]
    link = re.search(r"(http\S+/staff/invitation\?token=\S+)", mail["text"]).group(1)
    token = link.split("token=", 1)[1]

    # The technician, in a browser of its own: the invitation page, then a password, then sign-in.
    tech_context = await browser.new_context()
    tech = await tech_context.new_page()
    try:
        await shots(browser, base, [], {"invitation": f"/staff/invitation?token={token}"})
        await tech.goto(link)
        assert email in await tech.locator("#invited-login").inner_text()
        await tech.get_by_label("New password", exact=True).fill(password)
        await tech.get_by_label("New password, again").fill(password)
        await tech.get_by_role("button", name="Save my password").click()
        await tech.wait_for_url(base + "/staff/invitation/done")
        await tech.get_by_role("link", name="Sign in").click()
        await tech.wait_for_url(base + "/staff/signin")
        # The link worked once.
        again = await tech.goto(link)
        assert again is not None and again.status == 410

        await _sign_in(tech, base, email, password)
        assert await tech.get_by_role("link", name="Team", exact=True).count() == 0
        queue = await tech.goto(base + "/staff/tickets")
        assert queue is not None and queue.status == 200
        await tech.get_by_role("heading", name="Ticket queue", level=1).wait_for()
        team = await tech.goto(base + "/staff/team")
        assert team is not None and team.status == 403
        assert "Not allowed" in await tech.locator("main").inner_text()

        # The same refusals through the staff JSON API, decided by identity on the technician's principal.
        tech_token = await asyncio.to_thread(_staff_api_token, stack, email, password)
        key = {"Idempotency-Key": secrets.token_hex(12)}
        with api(stack, tech_token) as c:
            assert c.get("/api/v1/staff/staff-users").status_code == 403
            r = c.post(
                "/api/v1/staff/staff-users", json={"email": f"x-{tag}@example.test", "role": "admin"}, headers=key
            )
            assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
            assert "only an admin may" in r.json()["detail"]
            assert c.post("/api/v1/staff/permission-groups", json={"name": f"G {tag}"}).status_code == 403
            assert c.put("/api/v1/staff/settings", json={"always_invite_new_customers": False}).status_code == 403
            r = c.put("/api/v1/staff/portal-controls/branding", json={"operator_name": "Hijacked"})
            assert r.status_code == 403
            # What a technician's work needs stays open.
            assert c.get("/api/v1/staff/tickets").status_code == 200
            assert c.get("/api/v1/staff/customers").status_code == 200
            assert c.get("/api/v1/staff/permission-groups").status_code == 200

        # The admin's team page, then the deactivation, confirmed on a page of its own.
        await page.goto(base + "/staff/team")
        assert "Active" in await page.locator(f'li[data-email="{email}"]').inner_text()
        await page.locator(f'li[data-email="{email}"]').get_by_role("link", name="Deactivate").click()
        deactivate_path = page.url.removeprefix(base)
        await shots(browser, base, await page.context.cookies(), {"team": "/staff/team", "deactivate": deactivate_path})
        await page.get_by_role("button", name="Deactivate").click()
        await page.get_by_text("Deactivated and signed out.").wait_for()
        assert "Deactivated" in await page.locator(f'li[data-email="{email}"]').inner_text()

        # The technician's browser session and API token ended — identity refuses them at once, the gateway once its
        # principal cache drops it on identity's SessionsChanged event; it cannot sign in again.
        deadline = time.monotonic() + 10
        while True:
            await tech.goto(base + "/staff/tickets")
            if "/staff/signin" in tech.url or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert "/staff/signin" in tech.url

        def api_refused() -> int:
            # The API token has a cache entry of its own: the same few seconds apply.
            with api(stack, tech_token) as c:
                while (code := c.get("/api/v1/staff/tickets").status_code) != 401 and time.monotonic() < deadline:
                    time.sleep(0.5)
            return code

        assert await asyncio.to_thread(api_refused) == 401
        with api(stack) as c:
            r = c.post("/api/v1/staff/sessions", json={"login": email, "password": password})
        assert r.status_code == 403, r.text
    finally:
        await tech_context.close()
    assert SHOTS.exists()


def test_the_invite_api_takes_an_idempotency_key_and_sends_one_email(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    email = f"api-tech-{tag}@example.test"
    token = _staff_api_token(stack, stack.config.staff_email, stack.config.staff_password)
    body = {"email": email, "name": "Api Tech", "role": "technician", "language": "fr"}
    with api(stack, token) as c:
        missing = c.post("/api/v1/staff/staff-users", json=body)
        assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["detail"]
        key = {"Idempotency-Key": f"invite-{tag}-0123456789"}
        first = c.post("/api/v1/staff/staff-users", json=body, headers=key)
        again = c.post("/api/v1/staff/staff-users", json=body, headers=key)
        assert first.status_code == again.status_code == 201, first.text
        assert first.json()["id"] == again.json()["id"]
        assert first.json()["role"] == "technician" and first.json()["invitation_pending"]
        bad = c.post(
            "/api/v1/staff/staff-users",
            json={**body, "email": f"other-{tag}@example.test", "role": "owner"},
            headers={"Idempotency-Key": f"invite-{tag}-bad-role-01"},
        )
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
        listed = c.get("/api/v1/staff/staff-users").json()
        assert [u["email"] for u in listed].count(email) == 1
        r = c.put(f"/api/v1/staff/staff-users/{first.json()['id']}/role", json={"role": "admin"})
        assert r.status_code == 200 and r.json()["role"] == "admin"
    wait_for_mails(stack, lambda m: email in m["rcpt_to"], 1)
    time.sleep(2)  # a second email would have been queued with the first; give the mailer time to send it too
    got = [m for m in mails(stack) if email in m["rcpt_to"]]
    assert len(got) == 1, "a retried invitation sends no second email"
    assert "équipe" in got[0]["subject"]
