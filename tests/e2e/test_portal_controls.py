"""Issue 3 (SPEC P7, P8, P9, P12) end to end: support window, portal off switch, admin override and branding,
through the staff API, the gateway and identity. Every global setting changed here is put back in a finally
block: other tests share the stack."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from servicekit import permissions as perm
from servicekit.permissions import NON_PORTAL_USER_GROUP
from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import ACME, BLUE, api, api_sign_in

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks
# The gateway keeps a resolved session 5 s and the portal controls 3 s.
WITHIN = 15.0


def staff_api(stack) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


def page_client(stack, token: str, lang: str = "en") -> httpx.Client:  # noqa: ANN001
    cookie = f"portal_session={token}; lang={lang}"
    return httpx.Client(base_url=stack.gateway_url, headers={"Cookie": cookie}, timeout=15, follow_redirects=False)


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def until(check, limit: float = WITHIN):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def contact_of(staff: httpx.Client, customer_email: str, login: str) -> dict:
    customers = staff.get("/api/v1/staff/customers", params={"page_size": 100}).json()["items"]
    customer = next(c for c in customers if c["email"] == customer_email)
    contacts = staff.get(f"/api/v1/staff/customers/{customer['id']}/contacts").json()
    return next(c for c in contacts if c["email"] == login)


def test_support_window_signs_in_only_between_its_dates_and_shows_why(stack):  # noqa: ANN001
    user = new_portal_user(stack)
    with staff_api(stack) as staff:
        contact = contact_of(staff, ACME.email, user.login)
        window = f"/api/v1/staff/contacts/{contact['id']}/support-window"
        before = staff.get("/api/v1/staff/portal-controls").json()["renewal_notice"]["days"]
        try:
            r = staff.put(window, json={"support_start": day(-30), "support_end": day(5)})
            assert r.status_code == 200 and r.json()["support_end"] == day(5), r.text
            assert contact_of(staff, ACME.email, user.login)["support_start"] == day(-30), "shown in the contacts list"
            assert staff.put("/api/v1/staff/portal-controls/renewal-notice", json={"days": 7}).status_code == 200
            token = api_sign_in(stack, user.login, user.password)
            with page_client(stack, token) as c:
                home = until(lambda: (h := c.get("/")).status_code == 200 and 'id="renewal-notice"' in h.text and h)
                assert home, "the renewal notice shows from 7 days before the end date"
                end = datetime.fromisoformat(day(5))
                assert f"Your support ends on {end.day}\u00a0" in home.text
                fr = page_client(stack, token, "fr").get("/")
                assert "Votre assistance prend fin le" in fr.text
                # Every other page shows it in the header's place (base.html), once.
                tickets = c.get("/tickets")
                assert tickets.status_code == 200, tickets.status_code
                assert tickets.text.count("Your support ends on") == 1

                # The window closes while signed in: the next pages sign the browser out, saying why.
                assert staff.put(window, json={"support_start": day(-30), "support_end": day(-1)}).status_code == 200
                out = until(lambda: (r := c.get("/")).status_code == 303 and r)
                assert out and out.headers["location"] == "/signin?why=support"
                assert 'portal_session=""' in out.headers.get("set-cookie", "")
                signin = c.get(out.headers["location"])
                assert "support period is over" in signin.text
            with api(stack, token) as c:
                assert c.get("/api/v1/me").status_code == 401
            with api(stack) as c:
                r = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password})
                assert r.status_code == 409 and f"ended on {day(-1)}" in r.json()["detail"], r.text
                wrong = c.post("/api/v1/sessions", json={"login": user.login, "password": "not-the-password-1"})
                assert wrong.status_code == 401, "a wrong password learns nothing about the window"

            bad = staff.put(window, json={"support_start": day(3), "support_end": day(1)})
            assert bad.status_code == 400 and bad.json()["detail"].startswith("support_end: "), bad.text
            assert staff.put(window, json={"support_start": "31/12/2026"}).status_code == 400
            assert staff.put("/api/v1/staff/contacts/nope/support-window", json={}).status_code == 404
            assert staff.put(window, json={"support_start": day(2), "support_end": ""}).status_code == 200
            with api(stack) as c:
                r = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password})
                assert r.status_code == 409 and f"starts on {day(2)}" in r.json()["detail"]
            assert staff.put(window, json={"support_start": "", "support_end": ""}).status_code == 200
            api_sign_in(stack, user.login, user.password)
        finally:
            staff.put("/api/v1/staff/portal-controls/renewal-notice", json={"days": before})
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as portal:
        assert portal.put(window, json={"support_end": day(-1)}).status_code == 403


async def test_support_window_refusal_on_the_sign_in_page_in_chromium(stack, page) -> None:  # noqa: ANN001
    user = new_portal_user(stack)

    def close() -> None:
        with staff_api(stack) as staff:
            contact = contact_of(staff, ACME.email, user.login)
            r = staff.put(f"/api/v1/staff/contacts/{contact['id']}/support-window", json={"support_end": day(-1)})
            assert r.status_code == 200, r.text

    await asyncio.to_thread(close)
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    base = stack.gateway_url
    for lang, login_label, password_label, button, text in (
        ("en", "Email or username", "Password", "Sign in", "Your support period ended on"),
        ("fr", "E-mail ou identifiant", "Mot de passe", "Se connecter", "Votre période d’assistance a pris fin le"),
    ):
        await page.context.add_cookies([{"name": "lang", "value": lang, "url": base}])
        await page.goto(base + "/signin")
        await page.get_by_label(login_label).fill(user.login)
        await page.get_by_label(password_label, exact=True).fill(user.password)
        await page.get_by_role("button", name=button).click()
        alert = page.get_by_role("alert")
        await alert.wait_for()
        assert text in await alert.inner_text()
        await page.screenshot(path=str(SHOTS / f"support-window-refused-{lang}.png"), full_page=True)


def test_off_switch_redirects_every_portal_visit_but_not_staff_or_health(stack):  # noqa: ANN001
    target = "https://www.example.com/portal-moved"
    token = api_sign_in(stack, ACME.login, ACME.password)
    with staff_api(stack) as staff:
        assert staff.put("/api/v1/staff/portal-controls/off-switch", json={"disabled": True}).status_code == 400
        bad = staff.put(
            "/api/v1/staff/portal-controls/off-switch", json={"disabled": True, "redirect_url": "javascript:alert(1)"}
        )
        assert bad.status_code == 400 and bad.json()["detail"].startswith("redirect_url: ")
        try:
            r = staff.put("/api/v1/staff/portal-controls/off-switch", json={"disabled": True, "redirect_url": target})
            assert r.status_code == 200 and r.json()["off_switch"] == {"disabled": True, "redirect_url": target}
            with httpx.Client(base_url=stack.gateway_url, timeout=15, follow_redirects=False) as anon:
                first = until(lambda: (r := anon.get("/signin")).status_code == 302 and r)
                assert first and first.headers["location"] == target
                for path in ("/", "/tickets", "/forgot", "/kb", "/account/password"):
                    assert anon.get(path).headers.get("location") == target, path
                assert anon.get("/api/v1/me").status_code == 503
                assert anon.get("/healthz").status_code == 200
                assert anon.get("/readyz").status_code == 200
                assert anon.get("/staff/signin").status_code == 200
                assert anon.get("/static/portal.css").status_code == 200
            with page_client(stack, token) as c:
                assert c.get("/").headers.get("location") == target
            with api(stack, token) as c:
                gone = c.get("/api/v1/tickets")
                assert gone.status_code == 503 and gone.headers["content-type"] == "application/problem+json"
            assert staff.get("/api/v1/staff/portal-controls").json()["off_switch"]["disabled"] is True
        finally:
            staff.put("/api/v1/staff/portal-controls/off-switch", json={"disabled": False, "redirect_url": ""})
    with httpx.Client(base_url=stack.gateway_url, timeout=15, follow_redirects=False) as anon:
        assert until(lambda: anon.get("/signin").status_code == 200)
    with api(stack, token) as c:
        assert c.get("/api/v1/me").status_code == 200
        assert c.put("/api/v1/staff/portal-controls/off-switch", json={"disabled": False}).status_code == 403


def test_admin_override_shows_the_whole_customer_and_nothing_more(stack):  # noqa: ANN001
    user = new_portal_user(stack, group_name=NON_PORTAL_USER_GROUP)
    with staff_api(stack) as staff:
        token = api_sign_in(stack, user.login, user.password)
        with api(stack, token) as c:
            me = c.get("/api/v1/me").json()
            assert set(me["permissions"]) == {perm.TICKETS_VIEW_MINE}
            mine = c.get("/api/v1/tickets").json()["items"]
            assert all(t.get("contact_id") == me["contact_id"] for t in mine)
            r = staff.put(f"/api/v1/staff/portal-users/{user.id}/admin-override", json={"admin_override": True})
            assert r.status_code == 200 and r.json()["admin_override"] is True, r.text
            widened = until(lambda: perm.TICKETS_VIEW_ALL in (m := c.get("/api/v1/me").json())["permissions"] and m)
            assert set(widened["permissions"]) == {perm.TICKETS_VIEW_MINE, perm.TICKETS_VIEW_ALL}
            everything = c.get("/api/v1/tickets", params={"page_size": 100}).json()["items"]
            assert any(t.get("contact_id") != me["contact_id"] for t in everything), "the customer's other tickets"
            with api(stack, api_sign_in(stack, BLUE.login, BLUE.password)) as blue:
                blue_ids = {t["id"] for t in blue.get("/api/v1/tickets", params={"page_size": 100}).json()["items"]}
            assert not blue_ids & {t["id"] for t in everything}, "never another customer's"
            assert c.get("/api/v1/invoices").status_code in (403, 404), "no module the group does not open"
            r = staff.put(f"/api/v1/staff/portal-users/{user.id}/admin-override", json={"admin_override": False})
            assert r.status_code == 200 and r.json()["admin_override"] is False
            assert until(lambda: perm.TICKETS_VIEW_ALL not in c.get("/api/v1/me").json()["permissions"])
            assert (
                c.put(f"/api/v1/staff/portal-users/{user.id}/admin-override", json={"admin_override": True}).status_code
                == 403
            )
        missing = staff.put("/api/v1/staff/portal-users/nope/admin-override", json={"admin_override": True})
        assert missing.status_code == 404


def test_branding_in_the_header_and_a_safe_custom_stylesheet(stack):  # noqa: ANN001
    with staff_api(stack) as staff:
        before = staff.get("/api/v1/staff/portal-controls").json()["branding"]
        try:
            for bad in (
                "http://cdn.example.com/theme.css",
                "//evil.example/theme.css",
                "javascript:alert(1)",
                'https://cdn.example.com/t.css"><script>alert(1)</script>',
                "data:text/css,body{}",
            ):
                r = staff.put("/api/v1/staff/portal-controls/branding", json={"custom_css_url": bad})
                assert r.status_code == 400 and r.json()["detail"].startswith("custom_css_url: "), (bad, r.text)
            r = staff.put(
                "/api/v1/staff/portal-controls/branding",
                json={
                    "operator_name": "Fixit & Co <IT>",
                    "logo_url": "/static/operator-logo.svg",
                    "custom_css_url": "https://cdn.example.com/theme.css",
                },
            )
            assert r.status_code == 200, r.text
            token = api_sign_in(stack, ACME.login, ACME.password)
            with page_client(stack, token) as c:
                home = until(lambda: (h := c.get("/")) and "Fixit &amp; Co &lt;IT&gt;" in h.text and h)
                assert home, "the operator's name in the header, escaped"
                assert '<img class="operator-logo" src="/static/operator-logo.svg"' in home.text
                assert '<link rel="stylesheet" href="https://cdn.example.com/theme.css" id="custom-css">' in home.text
                assert f'<a class="customer" href="/">{ACME.business_name}</a>' in home.text
                csp = home.headers["content-security-policy"]
                assert "style-src 'self' https://cdn.example.com;" in csp + ";"
                assert "script-src" not in csp and "default-src 'self'" in csp and "unsafe" not in csp
            with httpx.Client(base_url=stack.gateway_url, timeout=15) as anon:
                signin = anon.get("/signin")
                assert "Fixit &amp; Co &lt;IT&gt;" in signin.text and "theme.css" in signin.text
        finally:
            staff.put("/api/v1/staff/portal-controls/branding", json=before)
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as portal:
        assert portal.put("/api/v1/staff/portal-controls/branding", json={"operator_name": "Mine"}).status_code == 403


async def test_branded_header_in_chromium(stack, page) -> None:  # noqa: ANN001
    def brand(body: dict | None) -> dict:
        with staff_api(stack) as staff:
            before = staff.get("/api/v1/staff/portal-controls").json()["branding"]
            if body is not None:
                assert staff.put("/api/v1/staff/portal-controls/branding", json=body).status_code == 200
            return before

    before = await asyncio.to_thread(
        brand,
        {
            "operator_name": "Fixit Computer Services",
            "logo_url": "/static/operator-logo.svg",
            "custom_css_url": "/static/knowledge.css",
        },
    )
    base = stack.gateway_url
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    try:
        await page.goto(base + "/signin")
        await page.get_by_label("Email or username").fill(ACME.login)
        await page.get_by_label("Password").fill(ACME.password)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(base + "/")
        deadline = time.monotonic() + WITHIN
        while await page.get_by_text("Fixit Computer Services").count() == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            await page.reload()
        header = page.locator("header.site-header")
        assert "Fixit Computer Services" in await header.inner_text()
        assert await page.locator("img.operator-logo").evaluate("img => img.naturalWidth") > 0
        customer = header.get_by_role("link", name=ACME.business_name)
        assert await customer.get_attribute("href") == "/"
        await page.screenshot(path=str(SHOTS / "branding-header-en.png"))
        await page.get_by_role("link", name="Français").click()
        await page.wait_for_url(base + "/")
        await page.screenshot(path=str(SHOTS / "branding-header-fr.png"))
        await page.goto(base + "/tickets")
        await customer.click()
        await page.wait_for_url(base + "/")
    finally:
        await asyncio.to_thread(brand, before)
