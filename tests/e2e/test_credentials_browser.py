"""Masked credentials in Chromium (SPEC A5, X8): staff create a public credential in the Credentials section of the
customer's page; the customer opens it on the portal, where the password is masked, clicks Reveal, sees the
password and then their own reveal in the credential's log; staff find the same reveal in the Credential Access
Report. Screenshots of every new page at 390 and 1280 px."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from tests.e2e.helpers import ACME, api, api_sign_in, sign_in

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


async def shots(page, name: str) -> None:  # noqa: ANN001
    """The page at phone and desktop widths (full page), then back to desktop."""
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    for width in (390, 1280):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SHOTS / f"credentials-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def test_staff_share_a_credential_and_the_customer_reveals_it(stack, browser) -> None:  # noqa: ANN001
    base = stack.gateway_url
    tag = secrets.token_hex(3)
    name, password = f"Office Wi-Fi {tag}", f"Sunrise-{secrets.token_hex(6)}"
    alice_token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, alice_token) as c:
        acme_id = c.get("/api/v1/me").json()["customer_id"]

    staff_ctx, customer_ctx = await browser.new_context(), await browser.new_context()
    try:
        staff = await staff_ctx.new_page()
        await sign_in(staff, base, "/staff/signin", stack.config.staff_email, stack.config.staff_password)
        await staff.wait_for_url(base + "/staff")
        await staff.goto(f"{base}/staff/customers/{acme_id}")
        section = staff.locator("#credentials")
        await section.get_by_text("New credential").click()
        await section.get_by_label("Name", exact=True).fill(name)
        await section.get_by_label("Username", exact=True).fill("guest")
        await section.get_by_label("Host or URL").fill("https://wifi.acme.test")
        await section.get_by_label("Password", exact=True).fill(password)
        await section.get_by_label("Notes", exact=True).fill("SSID Acme-Guest")
        await section.get_by_label("Public: shown on the customer portal (otherwise staff only)").check()
        await section.get_by_role("button", name="Create credential").click()
        await staff.wait_for_url(f"{base}/staff/customers/{acme_id}?credential_done=created#credentials")
        row = staff.locator(f"#credentials li:has-text('{name}')")
        await row.wait_for()
        assert password not in await staff.content()
        await shots(staff, "staff-section")
        await row.get_by_role("link", name="Open").click()
        await staff.wait_for_selector("h1")
        assert password not in await staff.content()
        await shots(staff, "staff-credential")

        customer = await customer_ctx.new_page()
        await sign_in(customer, base, "/signin", ACME.login, ACME.password)
        await customer.wait_for_url(base + "/")
        await customer.get_by_role("link", name="Credentials").first.click()
        await customer.wait_for_url(base + "/credentials")
        assert password not in await customer.content()
        await shots(customer, "portal-list")
        await customer.get_by_role("link", name=name).click()
        await customer.get_by_text("Nobody has revealed this password yet.").wait_for()
        assert password not in await customer.content()
        await shots(customer, "portal-credential")
        await customer.get_by_role("button", name="Reveal password").click()
        await customer.locator("#revealed-password").wait_for()
        assert await customer.locator("#revealed-password").inner_text() == password
        log = customer.locator("#access-log tbody tr")
        assert await log.count() == 1 and "portal user" in await log.first.inner_text()
        await shots(customer, "portal-revealed")
        await customer.goto(f"{base}/credentials")  # leaving the page leaves the password behind
        assert password not in await customer.content()

        await staff.goto(f"{base}/staff/credential-access?customer_id={acme_id}")
        entry = staff.locator(f"tbody tr:has-text('{name}')")
        await entry.wait_for()
        text = await entry.inner_text()
        assert "portal user" in text and "HeadlessChrome" in text
        await shots(staff, "report")
        await staff.goto(f"{base}/staff/credentials/nope/delete")
        assert "Not found" in await staff.title() or await staff.locator("h1").count() == 1
        await staff.goto(f"{base}/staff/customers/{acme_id}")
        await staff.locator(f"#credentials li:has-text('{name}')").get_by_role("link", name="Delete").click()
        await shots(staff, "delete-confirm")
        await staff.get_by_role("button", name="Delete").click()
        await staff.wait_for_url(f"{base}/staff/customers/{acme_id}?credential_done=deleted#credentials")
        assert await staff.locator(f"#credentials li:has-text('{name}')").count() == 0
    finally:
        await staff_ctx.close()
        await customer_ctx.close()
