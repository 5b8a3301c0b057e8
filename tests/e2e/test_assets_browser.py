"""Issue 13 in Chromium (SPEC A1–A3, T8): staff add a site and three assets on the customer's "Assets and sites"
tab; the customer's home shows them in its Assets section; the customer opens an asset, sees its tickets, edits the
custom field staff marked editable and is refused one that is not (through the API: the page offers no such
field); opens "New ticket about this asset", finds the asset and its site chosen, submits, and the ticket is listed
on the asset page and the site page. Screenshots of every new page at 390 and 1280 px."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from tests.e2e.helpers import ACME, api, api_sign_in

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


async def shots(page, name: str) -> None:  # noqa: ANN001
    """The page at phone and desktop widths."""
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    for width in (390, 1280):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SHOTS / f"assets-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


def whoami(stack) -> dict:  # noqa: ANN001
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        return c.get("/api/v1/me").json()


async def test_staff_add_assets_and_the_customer_works_with_them(stack, browser) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:6]
    base = stack.gateway_url
    me = await asyncio.to_thread(whoami, stack)
    acme = me["customer_id"]
    # "0…" sorts first by name, so the home's first rows are these whatever other tests made.
    printer, laptop, router = f"0 Printer {tag}", f"0 Laptop {tag}", f"0 Router {tag}"

    staff_ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    staff = await staff_ctx.new_page()
    await staff.goto(base + "/staff/signin")
    await staff.get_by_label("Email or username").fill(stack.config.staff_email)
    await staff.get_by_label("Password").fill(stack.config.staff_password)
    await staff.get_by_role("button", name="Sign in").click()
    await staff.wait_for_url(base + "/staff")
    await staff.goto(base + f"/staff/customers/{acme}")
    await staff.get_by_role("link", name="Assets and sites", exact=True).click()
    await staff.wait_for_url(f"**/staff/customers/{acme}/assets")

    await staff.locator("#site-name").fill(f"Harbour office {tag}")
    await staff.locator("#site-address").fill("9 Quay Street\nPortsmouth")
    await staff.get_by_role("button", name="Add site").click()
    await staff.wait_for_url("**/assets?done=site_added")
    await staff.get_by_role("link", name=f"Harbour office {tag}").wait_for()

    for name, serial, kind in (
        (printer, f"PR-{tag}", "Printer"),
        (laptop, f"LT-{tag}", "Laptop"),
        (router, "", "Router"),
    ):
        await staff.goto(base + f"/staff/customers/{acme}/assets")
        await staff.locator("#new-name").fill(name)
        await staff.locator("#new-serial").fill(serial)
        await staff.locator("#new-type").fill(kind)
        await staff.locator("#new-site").select_option(label=f"Harbour office {tag}")
        if name == printer:
            await staff.locator("#new-contact").select_option(me["contact_id"])
            await staff.locator("#cf_name_0").fill("Room")
            await staff.locator("#cf_value_0").fill("2.14")
            await staff.locator("#cf_edit_0").check()
        await staff.get_by_role("button", name="Add asset").click()
        await staff.wait_for_url("**/staff/assets/*?done=asset_added")
        if name == printer:
            printer_id = staff.url.split("/staff/assets/")[1].split("?")[0]
            # A second custom field, not editable by the customer, added on the asset's own page.
            await staff.locator("#cf_name_1").fill("Licence")
            await staff.locator("#cf_value_1").fill("L-77")
            await staff.get_by_role("button", name="Save").click()
            await staff.wait_for_url(f"**/staff/assets/{printer_id}?done=saved")
            await shots(staff, "staff-asset")
    await staff.goto(base + f"/staff/customers/{acme}")
    section = staff.locator("#customer-assets")
    # The section shows the first ten sites and assets by name; on the session's shared stack other tests' records
    # may come first, so each new one is either listed there or behind the section's "all" links.
    listed = await section.inner_text()
    more = await section.locator(f'a[href^="/staff/customers/{acme}/assets#"]').count()
    for name in (printer, laptop, router, f"Harbour office {tag}"):
        assert name in listed or more, (name, listed)
    await shots(staff, "staff-customer")
    await staff.goto(base + f"/staff/customers/{acme}/assets?q={tag}")
    rows = staff.locator("#assets table tbody tr")
    assert await rows.count() == 3
    await shots(staff, "staff-tab")
    await staff.get_by_role("link", name=f"Harbour office {tag}").first.click()
    await staff.wait_for_url("**/staff/sites/*")
    site_id = staff.url.rsplit("/", 1)[-1]
    await shots(staff, "staff-site")

    # A ticket about the printer already exists when the customer first opens it.
    alice = await asyncio.to_thread(api_sign_in, stack, ACME.login, ACME.password)

    def file_ticket() -> str:
        with api(stack, alice) as c:
            r = c.post(
                "/api/v1/tickets",
                json={"subject": f"Toner low {tag}", "description": "Yellow.", "asset_id": printer_id},
                headers={"Idempotency-Key": f"assets-browser-{tag}-0001"},
            )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    await asyncio.to_thread(file_ticket)

    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    await page.goto(base + "/signin")
    await page.get_by_label("Email or username").fill(ACME.login)
    await page.get_by_label("Password").fill(ACME.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + "/")
    section = page.locator("section[aria-labelledby=assets-heading]")
    for name in (printer, laptop, router):
        await section.get_by_role("link", name=name).wait_for()
    await section.get_by_role("link", name=printer).click()
    await page.wait_for_url(f"**/assets/{printer_id}")
    await page.get_by_role("heading", name=printer).wait_for()
    tickets = page.locator("section[aria-labelledby=tickets-heading]")
    await tickets.get_by_role("link", name=f"Toner low {tag}").wait_for()
    assert await page.locator("[data-field=Licence] dd").inner_text() == "L-77"
    await shots(page, "asset")

    # The editable field has a form input; the other does not.
    assert await page.get_by_label("Licence").count() == 0
    await page.get_by_label("Room").fill("3.01 (second floor)")
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url(f"**/assets/{printer_id}?done=saved")
    assert await page.locator("[data-field=Room] dd").inner_text() == "3.01 (second floor)"

    def refused() -> tuple[int, str]:
        with api(stack, alice) as c:
            r = c.patch(f"/api/v1/assets/{printer_id}", json={"custom_field_values": {"Licence": "mine"}})
        return r.status_code, r.json()["detail"]

    status, detail = await asyncio.to_thread(refused)
    assert status == 403 and "'Licence' is not editable by customers" in detail
    await page.reload()
    assert await page.locator("[data-field=Licence] dd").inner_text() == "L-77"

    await page.get_by_role("link", name="New ticket about this asset").click()
    await page.wait_for_url("**/tickets/new?*")
    assert await page.get_by_label("Asset (optional)").input_value() == printer_id
    assert await page.get_by_label("Site (optional)").input_value() == site_id
    await shots(page, "new-ticket")
    await page.get_by_label("Subject").fill(f"Paper jam {tag}")
    await page.get_by_label("Description").fill("Tray 2 jams on every page.")
    await page.get_by_role("button", name="Create ticket").click()
    await page.wait_for_url("**/tickets/*")
    assert "/tickets/new" not in page.url

    await page.goto(base + f"/assets/{printer_id}")
    await tickets.get_by_role("link", name=f"Paper jam {tag}").wait_for()
    await tickets.get_by_role("link", name=f"Toner low {tag}").wait_for()
    await page.get_by_role("link", name=f"Harbour office {tag}").first.click()
    await page.wait_for_url(f"**/sites/{site_id}")
    await page.locator("section[aria-labelledby=site-assets-heading]").get_by_role("link", name=laptop).wait_for()
    await tickets.get_by_role("link", name=f"Paper jam {tag}").wait_for()
    await shots(page, "site")

    await page.goto(base + f"/assets?q={tag}")
    assert await page.locator(".asset-table tbody tr").count() == 3
    await page.get_by_role("link", name="Mine").click()
    await page.wait_for_url("**/assets?*scope=mine*")
    names = await page.locator(".asset-table tbody td:first-child a").all_inner_texts()
    assert names == [printer]
    await page.goto(base + f"/assets?q={tag}")
    await shots(page, "list")
    await page.goto(base + f"/tickets?asset_id={printer_id}")
    assert await page.locator(".ticket-table tbody tr").count() == 2
    await page.goto(base + "/assets?q=nothing-matches-" + tag)
    await page.get_by_text("No asset matches this search.").wait_for()
    await page.goto(base + "/lang/fr?next=/assets/" + printer_id)
    await page.get_by_role("link", name="Nouveau ticket sur cet équipement").wait_for()
    await shots(page, "asset-fr")
    await ctx.close()
    await staff_ctx.close()
