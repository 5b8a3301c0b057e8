"""SPEC H5 on the running stack: a signed-in user who switches to French keeps it on the user — another browser
(English, never switched) shows French pages after signing in, and the user's password reset email, asked from an
English page, is in French; staff set a customer's default language from the console and the API (a language the
portal does not speak is a 400). Screenshots of the French home in the second browser and of the console's card."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import api, api_sign_in, sign_in, wait_for_mails

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks
NOBODY = "00000000-0000-0000-0000-000000000000"


def _shot(name: str) -> str:
    return str(SHOTS / name)


async def test_a_chosen_language_follows_the_user_to_another_browser_and_its_email(stack, page, browser) -> None:  # noqa: ANN001
    user = new_portal_user(stack)
    base = stack.gateway_url
    await sign_in(page, base, "/signin", user.login, user.password)
    await page.wait_for_url(base + "/")
    assert await page.locator("html").get_attribute("lang") == "en"
    await page.get_by_role("link", name="Français").click()
    await page.wait_for_url(base + "/")
    assert await page.locator("html").get_attribute("lang") == "fr"

    # Another browser: no language cookie, an English browser; signed in, the pages are French.
    other = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        second = await other.new_page()
        await sign_in(second, base, "/signin", user.login, user.password)  # the sign-in page is English
        await second.wait_for_url(base + "/")
        assert await second.locator("html").get_attribute("lang") == "fr"
        assert "Se déconnecter" in await second.content()
        await second.screenshot(path=_shot("i18n-home-fr-second-browser.png"), full_page=True)
    finally:
        await other.close()

    # Asked from an English page (a signed-out browser), the reset email is in the user's own language.
    third = await browser.new_context(locale="en-US")
    try:
        forgot = await third.new_page()
        await forgot.goto(base + "/forgot")
        assert await forgot.locator("html").get_attribute("lang") == "en"
        await forgot.get_by_label("Email or username").fill(user.login)
        await forgot.get_by_role("button", name="Email me a reset link").click()
        await forgot.locator("#forgot-sent").wait_for()
    finally:
        await third.close()
    found = wait_for_mails(stack, lambda m: user.login in m["rcpt_to"] and "Réinitialisez" in m["subject"])
    assert found[0]["text"].startswith("Bonjour")

    # The JSON API reads and sets the same language (PUT /api/v1/me/language); "" follows the browser again.
    with api(stack, api_sign_in(stack, user.login, user.password)) as c:
        assert c.get("/api/v1/me").json()["language"] == "fr"
        bad = c.put("/api/v1/me/language", json={"language": "de"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
        assert c.put("/api/v1/me/language", json={"language": ""}).json() == {"language": ""}
        assert c.get("/api/v1/me").json()["language"] == ""


async def test_staff_set_a_customers_default_language(stack, browser) -> None:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
        token = r.json()["session_token"]
    with api(stack, token) as c:
        # A customer of its own: the demo customers' language stays as other tests expect it.
        email = f"lang-{secrets.token_hex(4)}@example.test"
        made = c.post("/api/v1/staff/customers", json={"business_name": "Langues SARL", "email": email})
        assert made.status_code == 201, made.text
        acme = made.json()
        bad = c.put(f"/api/v1/staff/customers/{acme['id']}/language", json={"language": "de"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
        missing = c.put(f"/api/v1/staff/customers/{NOBODY}/language", json={"language": "fr"})
        assert missing.status_code == 404
        ok = c.put(f"/api/v1/staff/customers/{acme['id']}/language", json={"language": "fr"})
        assert ok.status_code == 200 and ok.json() == {"id": acme["id"], "language": "fr"}
        assert c.get(f"/api/v1/staff/customers/{acme['id']}").json()["language"] == "fr"

    # The console's card shows it, and puts it back to "not set" (a form, no JavaScript needed).
    ctx = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        page = await ctx.new_page()
        await sign_in(page, stack.gateway_url, "/staff/signin", stack.config.staff_email, stack.config.staff_password)
        await page.wait_for_url("**/staff**")
        await page.goto(f"{stack.gateway_url}/staff/customers/{acme['id']}")
        select = page.get_by_label("Default language of this customer's users")
        assert await select.input_value() == "fr"
        await select.select_option("")
        await page.get_by_role("button", name="Save the language").click()
        await page.wait_for_url(f"**/staff/customers/{acme['id']}?done=language")
        assert "The customer's default language is saved." in await page.content()
        assert await page.get_by_label("Default language of this customer's users").input_value() == ""
        card = page.locator("section", has=page.get_by_role("heading", name="Language"))
        await card.screenshot(path=_shot("i18n-staff-customer-language.png"))
    finally:
        await ctx.close()
    with api(stack, token) as c:
        assert c.get(f"/api/v1/staff/customers/{acme['id']}").json()["language"] == ""
