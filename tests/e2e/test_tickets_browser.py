"""Issue 4 in Chromium: a customer opens a ticket with an attachment, a staff reply (staff principal over the
tickets API) appears live on the open ticket page, the customer comments back, downloads the PDF, closes the
ticket and can no longer comment."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from tests.e2e.helpers import ACME
from tests.e2e.test_tickets_private_notes import pdf_text, staff_comment

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


async def shot(page, name: str) -> None:  # noqa: ANN001
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"tickets-{name}.png"), full_page=True)


async def test_customer_ticket_life_in_chromium(stack, page) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    subject = f"Wi-Fi drops in the lobby {tag}"
    base = stack.gateway_url

    await page.goto(base + "/signin")
    await page.get_by_label("Email or username").fill(ACME.login)
    await page.get_by_label("Password").fill(ACME.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + "/")

    await page.goto(base + "/tickets/new")
    await page.get_by_label("Subject").fill(subject)
    await page.get_by_label("Description").fill("Guests lose the connection every few minutes.")
    await page.get_by_label("Attach a file (optional)").set_input_files(
        files=[{"name": "signal.txt", "mimeType": "text/plain", "buffer": f"RSSI -82 dBm {tag}".encode()}]
    )
    await page.get_by_role("button", name="Create ticket").click()
    await page.wait_for_url("**/tickets/*")
    ticket_id = page.url.rsplit("/", 1)[-1]
    async with page.expect_download() as info:
        await page.get_by_role("link", name="signal.txt").click()
    attached = await info.value
    assert attached.suggested_filename == "signal.txt"
    assert await asyncio.to_thread(Path(await attached.path()).read_bytes) == f"RSSI -82 dBm {tag}".encode()

    # The page listens for new comments (server-sent events); the staff reply appears without a reload.
    await page.locator("#comment-list[data-live=open]").wait_for(state="attached")
    reply = f"We replaced the access point {tag}."
    await asyncio.to_thread(staff_comment, stack, ticket_id, f"Internal: check the PoE budget {tag}", private=True)
    await asyncio.to_thread(staff_comment, stack, ticket_id, reply, private=False)
    await page.get_by_text(reply).wait_for(timeout=15_000)
    assert await page.locator("#comment-list > li").count() == 1, "the private note never shows"
    await shot(page, "live")

    await page.get_by_label("Add a comment").fill(f"Thanks, it works now {tag}")
    await page.get_by_role("button", name="Send comment").click()
    await page.wait_for_url(f"**/tickets/{ticket_id}?done=commented*")
    items = page.locator("#comment-list > li")
    assert await items.count() == 2
    assert f"Thanks, it works now {tag}" in await items.nth(0).inner_text(), "newest first"
    assert reply in await items.nth(1).inner_text()
    await shot(page, "ticket")

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download PDF").click()
    download = await info.value
    assert download.suggested_filename.startswith("ticket-") and download.suggested_filename.endswith(".pdf")
    text = pdf_text(await asyncio.to_thread(Path(await download.path()).read_bytes))
    assert subject in text and reply in text

    await page.get_by_role("button", name="Close ticket").click()
    await page.wait_for_url(f"**/tickets/{ticket_id}?done=closed")
    assert await page.get_by_label("Add a comment").count() == 0
    await page.get_by_text("This ticket is closed, so it takes no new comments.").wait_for()
    await shot(page, "closed")

    await page.goto(base + f"/tickets?q={tag}")
    await page.get_by_role("link", name=subject).wait_for()
    await shot(page, "list")
    await page.goto(base + "/lang/fr?next=/tickets")
    await page.get_by_role("heading", name="Tickets").wait_for()
    await shot(page, "list-fr")
