"""Customer documents in Chromium (SPEC A4, seed 000 "Attachments"): staff upload a public PNG and an internal one
on the customer's page; the customer's home shows the Attachments section with the public one's preview and not
the internal one; View all lists it; its download is an attachment. Staff toggle and delete with confirmation.
Screenshots of each new page at 390 and 1280 px."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from tests.e2e.helpers import ACME, api, api_sign_in
from tests.e2e.test_documents_api import customer_id, png_bytes

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


def _staff_session(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


async def loaded(page, img) -> None:  # noqa: ANN001
    """The preview is lazy-loaded: scrolled into view, it must finish loading as a real picture (waits, then fails)."""
    await img.scroll_into_view_if_needed()
    handle = await img.element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle, timeout=15_000)


async def test_staff_share_a_document_that_the_customer_sees_on_its_home(stack, browser) -> None:  # noqa: ANN001
    tag = secrets.token_hex(3)
    base = stack.gateway_url
    staff_token = await asyncio.to_thread(_staff_session, stack)
    acme_token = await asyncio.to_thread(api_sign_in, stack, ACME.login, ACME.password)
    acme_id = await asyncio.to_thread(customer_id, stack, acme_token)
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    public_name, internal_name = f"site-map-{tag}.png", f"rack-photo-{tag}.png"

    staff = await browser.new_context(viewport={"width": 1280, "height": 900})
    await staff.add_cookies([{"name": "staff_session", "value": staff_token, "url": base + "/staff"}])
    page = await staff.new_page()
    customer_page = f"{base}/staff/customers/{acme_id}"
    await page.goto(customer_page)
    section = page.locator("#documents")
    for name, color, choice in ((public_name, "navy", "public"), (internal_name, "orange", "internal")):
        await section.get_by_label("File", exact=True).set_input_files(
            {"name": name, "mimeType": "image/png", "buffer": png_bytes(color, (300, 200))}
        )
        await section.locator(f'input[type="radio"][name="visibility"][value="{choice}"]').check()
        await section.get_by_role("button", name="Upload", exact=True).click()
        await page.wait_for_url("**#documents")
        assert await section.get_by_role("status").first.inner_text() == "The document was uploaded."
    public_row = section.locator("tr", has_text=public_name)
    internal_row = section.locator("tr", has_text=internal_name)
    assert await public_row.get_by_text("Public", exact=True).is_visible()
    assert await internal_row.get_by_text("Internal", exact=True).is_visible()
    await loaded(page, public_row.locator("img"))
    for width in (390, 1280):
        await page.set_viewport_size({"width": width, "height": 900})
        await section.screenshot(path=str(SHOTS / f"staff-documents-{width}.png"))

    customer = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    await customer.add_cookies([{"name": "portal_session", "value": acme_token, "url": base}])
    home = await customer.new_page()
    await home.goto(base + "/")
    attachments = home.locator("section", has=home.get_by_role("heading", name="Attachments"))
    row = attachments.locator("tr", has_text=public_name)
    await row.wait_for()
    await loaded(home, row.locator("img"))
    assert await attachments.get_by_text(internal_name).count() == 0
    for width in (390, 1280):
        await home.set_viewport_size({"width": width, "height": 900})
        await attachments.screenshot(path=str(SHOTS / f"home-attachments-{width}.png"))

    await attachments.get_by_role("link", name="View all documents").click()
    await home.wait_for_url(base + "/documents")
    await home.get_by_label("File name").fill(tag)
    await home.get_by_role("search", name="Search documents").get_by_role("button", name="Search").click()
    listed = home.locator("section", has=home.locator("#documents-heading"))
    assert await listed.get_by_role("link", name=public_name).is_visible()
    assert await home.get_by_text(internal_name).count() == 0
    for width in (390, 1280):
        await home.set_viewport_size({"width": width, "height": 900})
        await home.screenshot(path=str(SHOTS / f"documents-{width}.png"), full_page=True)
    async with home.expect_download() as info:
        await listed.get_by_role("link", name=public_name).click()
    download = await info.value
    assert download.suggested_filename == public_name
    response = await customer.request.get(f"{base}/documents/{download.url.rsplit('/', 2)[-2]}/download")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert await response.body() == png_bytes("navy", (300, 200))

    # Staff make the public one internal: it leaves the customer's home; then delete both, confirming each.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await public_row.get_by_role("button", name="Make internal").click()
    await page.wait_for_url("**#documents")
    await home.goto(base + "/")
    assert await home.get_by_text(public_name).count() == 0
    for name in (public_name, internal_name):
        await section.locator("tr", has_text=name).get_by_role("link", name="Delete").click()
        await page.get_by_role("heading", name="Delete this document?").wait_for()
        if name == public_name:
            for width in (390, 1280):
                await page.set_viewport_size({"width": width, "height": 900})
                await page.screenshot(path=str(SHOTS / f"staff-document-delete-{width}.png"), full_page=True)
        await page.get_by_role("button", name="Delete", exact=True).click()
        await page.wait_for_url("**#documents")
        assert await section.get_by_text(name).count() == 0
    await staff.close()
    await customer.close()
