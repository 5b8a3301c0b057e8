"""Issue 15 (SPEC H1-H3, X9) end to end: staff reorder and hide the portal home's sections in the console and the
customer's home follows on its next view; the whole home at 390 px and 1280 px in English and French without
sideways scrolling; a new ticket updates the open tickets section of an open home without a reload; the layout's
staff API refuses unknown keys. The layout is a global setting: every test puts the default back."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import httpx

from gateway.areas.home import KEYS
from tests.e2e.helpers import ACME, api, api_sign_in, sign_in

SHOTS = Path(os.environ.get("PORTAL_HOME_SHOTS", "/tmp/shots-home"))  # noqa: S108 - where a human looks


def staff_api(stack) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


def reset_layout(stack) -> dict:  # noqa: ANN001
    with staff_api(stack) as staff:
        r = staff.delete("/api/v1/staff/home-layout")
    assert r.status_code == 200, r.text
    return r.json()


async def shown_sections(page) -> list[str]:  # noqa: ANN001
    """The home's sections that show something, in DOM order."""
    return await page.eval_on_selector_all(
        "#home-sections > .home-section", "els => els.filter(e => e.children.length).map(e => e.dataset.section)"
    )


async def no_sideways_scroll(page) -> bool:  # noqa: ANN001
    return await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_the_layout_api_lists_every_key_and_refuses_unknown_ones(stack):  # noqa: ANN001
    try:
        default = reset_layout(stack)
        assert [i["key"] for i in default["items"]] == list(KEYS), "identity and the gateway know the same keys"
        assert all(i["enabled"] for i in default["items"]) and default["default_scope"] == "all"
        with staff_api(stack) as staff:
            r = staff.put("/api/v1/staff/home-layout", json={"items": [{"key": "weather", "enabled": True}]})
            assert r.status_code == 400 and "weather" in r.json()["detail"], r.text
            r = staff.put("/api/v1/staff/home-layout", json={"items": [], "default_scope": "everyone"})
            assert r.status_code == 400 and "default_scope" in r.text, r.text
            r = staff.put(
                "/api/v1/staff/home-layout",
                json={
                    "items": [{"key": "recent_faq"}, {"key": "open_tickets", "enabled": False}],
                    "default_scope": "mine",
                },
            )
            assert r.status_code == 200, r.text
            keys = [i["key"] for i in r.json()["items"]]
            assert keys[:2] == ["recent_faq", "open_tickets"] and sorted(keys) == sorted(KEYS)
        # The portal's JSON home follows at once (this gateway's controls cache was invalidated), in that order.
        with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
            home = c.get("/api/v1/home").json()
        assert "open_tickets" not in home["order"] and home["tickets"] is None
        assert home["order"][0] == "recent_faq" and home["order"].index("open_invoices") > 0
        # The default scope "mine": the ticket list and the asset list open on Mine when the address names none.
        cookie = {"Cookie": f"portal_session={api_sign_in(stack, ACME.login, ACME.password)}; lang=en"}
        with httpx.Client(base_url=stack.gateway_url, headers=cookie, timeout=15) as c:
            tickets = c.get("/tickets").text
            assert 'name="scope" value="mine" checked' in tickets, "the ticket list opens on Mine"
            assert 'name="scope" value="all" checked' in c.get("/tickets?scope=all").text
            # A portal session cannot use the staff API.
        with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
            assert c.get("/api/v1/staff/home-layout").status_code in (401, 403)
    finally:
        reset_layout(stack)


async def test_staff_reorder_and_hide_sections_and_the_customer_home_follows(stack, browser) -> None:  # noqa: ANN001
    base = stack.gateway_url
    await asyncio.to_thread(reset_layout, stack)
    staff_ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    customer_ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        customer = await customer_ctx.new_page()
        await sign_in(customer, base, "/signin", ACME.login, ACME.password)
        await customer.wait_for_url(base + "/")
        before = await shown_sections(customer)
        assert before.index("open_tickets") < before.index("open_invoices"), before
        assert "shortcuts" in before and "assets" in before, before

        staff = await staff_ctx.new_page()
        await sign_in(staff, base, "/staff/signin", stack.config.staff_email, stack.config.staff_password)
        await staff.wait_for_url(base + "/staff")
        await staff.goto(base + "/staff/settings")
        await staff.locator("#home-layout-link").click()
        await staff.wait_for_url(base + "/staff/settings/home")
        # Up/down buttons are plain forms: open invoices goes above open tickets, recent FAQ to the top.
        await staff.get_by_role("button", name="Move Open invoices up").click()
        await staff.wait_for_url("**/staff/settings/home?done=moved*")
        for _ in range(2):
            await staff.get_by_role("button", name="Move Recent FAQ up").click()
            await staff.wait_for_url("**/staff/settings/home?done=moved*")
        await staff.get_by_role("checkbox", name="Shortcuts (widget)").uncheck()
        await staff.get_by_role("checkbox", name="Assets (section)").uncheck()
        await staff.locator("#save-layout").click()
        await staff.wait_for_url("**/staff/settings/home?done=saved*")
        order = await staff.eval_on_selector_all("#layout-items > li", "els => els.map(e => e.dataset.key)")
        assert order.index("open_invoices") < order.index("open_tickets"), order
        assert order.index("recent_faq") < order.index("recent_tickets"), order
        await staff.screenshot(path=str(SHOTS / "staff-layout.png"), full_page=True)

        await customer.reload()
        after = await shown_sections(customer)
        assert after.index("open_invoices") < after.index("open_tickets"), after
        assert "shortcuts" not in after and "assets" not in after, after
        assert await customer.locator("#home-shortcuts *, #home-assets *").count() == 0, "hidden ones are absent"
        assert after.index("recent_faq") < after.index("recent_tickets"), after
        await customer.screenshot(path=str(SHOTS / "home-after-layout.png"), full_page=True)

        await staff.locator("#reset-layout").click()
        await staff.wait_for_url("**/staff/settings/home?done=reset*")
        await customer.reload()
        # (The announcements widget may appear now: the gateway refreshes its announcements beside the first view.)
        again = await shown_sections(customer)
        assert [k for k in again if k in before] == before, "reset puts the default back"
    finally:
        await staff_ctx.close()
        await customer_ctx.close()
        await asyncio.to_thread(reset_layout, stack)


def make_asset_and_credential(stack, tag: str) -> tuple[str, str]:  # noqa: ANN001
    """A device and a shared credential of Acme's, made by staff through the staff API; the credential's secret.

    Their names sort first: the home lists a customer's first rows by name, and by the time this runs other tests of
    the shared stack have given Acme many assets and credentials."""
    secret = f"Sekr1t-{tag}"
    with staff_api(stack) as staff:
        customers = staff.get("/api/v1/staff/customers", params={"page_size": 100}).json()["items"]
        acme = next(c for c in customers if c["email"] == ACME.email)["id"]
        r = staff.post(
            f"/api/v1/staff/customers/{acme}/assets",
            headers={"Idempotency-Key": f"home-asset-{tag}"},
            json={"name": f"Aa reception PC {tag}", "serial_number": f"SN-{tag}", "asset_type": "Desktop"},
        )
        assert r.status_code == 201, r.text
        r = staff.post(
            "/api/v1/staff/credentials",
            headers={"Idempotency-Key": f"home-credential-{tag}"},
            json={
                "customer_id": acme,
                "name": f"Aa router admin {tag}",
                "username": f"admin-{tag}",
                "password": secret,
                "public": True,
            },
        )
        assert r.status_code == 201, r.text
    return f"Aa router admin {tag}", secret


async def test_the_whole_home_at_390_and_1280_px_in_english_and_french(stack, browser) -> None:  # noqa: ANN001
    base = stack.gateway_url
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(reset_layout, stack)
    tag = uuid.uuid4().hex[:6]
    credential, secret = await asyncio.to_thread(make_asset_and_credential, stack, tag)
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await ctx.new_page()
        await sign_in(page, base, "/signin", ACME.login, ACME.password)
        await page.wait_for_url(base + "/")
        for lang in ("en", "fr"):
            await ctx.add_cookies([{"name": "lang", "value": lang, "url": base}])
            for width in (390, 1280):
                await page.set_viewport_size({"width": width, "height": 900})
                await page.goto(base + "/")
                shown = await shown_sections(page)
                for key in ("open_tickets", "open_invoices", "assets", "credentials", "shortcuts"):
                    assert key in shown, (lang, width, shown)
                assert await page.locator("html").get_attribute("lang") == lang
                # Credentials by name only: never the user name or the secret in the page.
                await page.locator("#home-credentials").get_by_text(credential).wait_for(timeout=5_000)
                source = await page.content()
                assert secret not in source and f"admin-{tag}" not in source
                remote = page.locator(f"#home-assets tr:has-text('Aa reception PC {tag}') td.remote-cell")
                assert await remote.get_attribute("data-agent-status") == "none", "no agent enrolled: not installed"
                await page.screenshot(path=str(SHOTS / f"home-{lang}-{width}.png"), full_page=True)
                assert await no_sideways_scroll(page), f"the home scrolls sideways at {width} px ({lang})"
                pay = page.locator("#home-open_invoices a.button[href^='/billing/pay?invoice=']").first
                if await pay.count():
                    box = await pay.bounding_box()
                    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, "Pay now visible"
    finally:
        await ctx.close()


async def test_a_new_ticket_updates_the_open_tickets_section_without_a_reload(stack, page) -> None:  # noqa: ANN001
    base = stack.gateway_url
    await sign_in(page, base, "/signin", ACME.login, ACME.password)
    await page.wait_for_url(base + "/")
    await page.locator("#home-sections[data-live=open]").wait_for(state="attached", timeout=10_000)
    await page.evaluate("() => { window.__sameDocument = true; }")
    subject = f"Printer jams on tray 2 {uuid.uuid4().hex[:8]}"

    def create() -> None:
        with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
            r = c.post("/api/v1/tickets", json={"subject": subject, "description": "Since this morning."})
        assert r.status_code == 201, r.text

    started = time.monotonic()
    await asyncio.to_thread(create)
    await page.locator("#home-open_tickets").get_by_text(subject).wait_for(timeout=10_000)
    took = time.monotonic() - started
    assert await page.evaluate("() => window.__sameDocument === true"), "updated in place, not reloaded"
    assert took < 6, f"the section updated {took:.1f} s after the ticket was created"
