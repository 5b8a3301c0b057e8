"""Issue 12 in Chromium: a staff member creates a customer through the console's form (no script needed), and the
new staff and portal forms — the customer form, the ticket status settings, the portal's new-ticket form with its
contact picker — fit a 390 px screen without sideways scrolling and a 1280 px one, in English and French.
Screenshots go to $PORTAL_SCREENSHOTS for a human to look at."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from tests.e2e.helpers import ACME, api, api_sign_in
from tests.e2e.test_staff_customers_pages import _staff_token

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


async def test_staff_create_a_customer_in_the_browser(stack, page) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    base = stack.gateway_url
    await page.goto(base + "/staff/signin")
    await page.get_by_label("Email or username").fill(stack.config.staff_email)
    await page.get_by_label("Password").fill(stack.config.staff_password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + "/staff")
    await page.goto(base + "/staff/customers")
    await page.get_by_role("link", name="New customer").click()
    await page.get_by_label("Business name", exact=True).fill(f"Lighthouse Vets {tag}")
    await page.locator("#email").fill(f"front-{tag}@lighthouse.test")
    await page.get_by_label("Tax rate (%)").fill("5.5")
    await page.get_by_label("Marketing emails", exact=True).uncheck()
    await page.get_by_label("Internal ticket warning", exact=True).fill("Dogs on site.")
    await page.get_by_role("button", name="Create the customer").click()
    await page.wait_for_url(f"{base}/staff/customers/*")
    assert await page.get_by_role("status").filter(has_text="The customer was created.").count() == 1
    assert await page.get_by_role("heading", name=f"Lighthouse Vets {tag}").count() == 1
    assert "Dogs on site." in await page.locator(".internal-warning").inner_text()
    cid = page.url.split("/")[-1].split("?")[0]
    with api(stack, await asyncio.to_thread(_staff_token, stack)) as staff:
        settings = (await asyncio.to_thread(staff.get, f"/api/v1/staff/customers/{cid}")).json()["settings"]
    assert (settings["tax_rate_bp"], settings["receive_marketing_emails"]) == (550, False)


async def test_the_new_forms_fit_narrow_and_wide_screens_in_both_languages(stack, browser) -> None:  # noqa: ANN001
    base = stack.gateway_url
    staff_token = await asyncio.to_thread(_staff_token, stack)
    alice = await asyncio.to_thread(api_sign_in, stack, ACME.login, ACME.password)
    with api(stack, alice) as c:
        acme = (await asyncio.to_thread(c.get, "/api/v1/me")).json()["customer_id"]
    pages = {
        "staff": (
            {"name": "staff_session", "value": staff_token, "url": base},
            {
                "settings": "/staff/settings",
                "customer-new": "/staff/customers/new",
                "customer-edit": f"/staff/customers/{acme}/edit",
                "customer": f"/staff/customers/{acme}",
                "contact-new": f"/staff/customers/{acme}/contacts/new",
            },
        ),
        "portal": ({"name": "portal_session", "value": alice, "url": base}, {"ticket-new": "/tickets/new"}),
    }
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    too_wide = []
    for side, (cookie, paths) in pages.items():
        for lang in ("en", "fr"):
            for width in (390, 1280):
                context = await browser.new_context(viewport={"width": width, "height": 900})
                await context.add_cookies([cookie, {"name": "lang", "value": lang, "url": base}])
                page = await context.new_page()
                for name, path in paths.items():
                    response = await page.goto(base + path)
                    assert response.status == 200, (path, response.status)
                    assert await page.locator("html").get_attribute("lang") == lang
                    scroll = await page.evaluate("document.documentElement.scrollWidth")
                    if scroll > width:
                        # Name the deepest elements that stick out, so the failure says what to fix.
                        culprits = await page.evaluate(
                            """w => [...document.querySelectorAll('body *')]
                                .filter(e => e.getBoundingClientRect().right > w + 1 && !e.querySelector('*'))
                                .slice(0, 3)
                                .map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 30))""",
                            width,
                        )
                        too_wide.append((path, lang, width, scroll, culprits))
                    await page.screenshot(path=str(SHOTS / f"{side}-{name}-{lang}-{width}.png"), full_page=True)
                await context.close()
    assert too_wide == [], f"pages wider than the screen: {too_wide}"
