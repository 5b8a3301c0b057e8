"""Issue 2: a customer signs in in Chromium, opens a ticket, sees it on home and on its page, and the
confirmation email reaches the SMTP catcher — all through the real processes."""

import asyncio
import uuid

from tests.e2e.helpers import ACME, mails


async def test_sign_in_create_ticket_and_get_the_confirmation_email(stack, page, tmp_path):
    subject = f"Laptop will not boot {uuid.uuid4().hex[:8]}"

    await page.goto(stack.gateway_url + "/")
    assert "/signin" in page.url, "an anonymous visit is sent to the sign-in page"
    await page.get_by_label("Email or username").fill(ACME.login)
    await page.get_by_label("Password").fill(ACME.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.gateway_url + "/")
    assert ACME.business_name in await page.content()

    await page.goto(stack.gateway_url + "/tickets/new")
    await page.get_by_label("Subject").fill(subject)
    await page.get_by_label("Description").fill("It shows a black screen after the logo.")
    await page.get_by_role("button", name="Create ticket").click()
    await page.wait_for_url("**/tickets/*")
    ticket_url = page.url
    assert subject in await page.content()
    await page.screenshot(path=str(tmp_path / "ticket.png"), full_page=True)

    await page.goto(stack.gateway_url + "/")
    link = page.get_by_role("link", name=subject, exact=True)
    await link.wait_for()
    await link.click()
    await page.wait_for_url(ticket_url)
    await page.screenshot(path=str(tmp_path / "home.png"), full_page=True)

    for _ in range(240):
        found = [m for m in mails(stack) if subject in m["subject"]]
        if found:
            break
        await asyncio.sleep(0.25)
    assert len(found) == 1, f"exactly one confirmation email for {subject!r}"
    assert found[0]["rcpt_to"] == [ACME.login]
    assert ticket_url.rsplit("/", 1)[-1] in found[0]["text"], "the email links to the ticket"
