"""Issue 12 in Chromium, working a ticket from the staff console: a customer with an internal ticket warning opens a
ticket in the portal; a staff member signs in to /staff, finds it in the queue (unassigned, that customer), sees
the warning, assigns it to themself, adds a private note and a public reply, sets Waiting on customer; the customer
sees the reply (never the note) and gets one email; the customer comments and the assigned staff member is
emailed; the staff member resolves and closes it. Screenshots of the queue and the ticket at 390 and 1280 px, en/fr.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import grpc

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.helpers import api, api_sign_in, mails, wait_for_mails
from tests.e2e.test_tickets_private_notes import staff_token

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


def warned_customer(stack, warning: str) -> tuple[str, str, str]:  # noqa: ANN001
    """A customer with an internal ticket warning, a contact and its portal user: (customer id, login, password)."""
    tag = uuid.uuid4().hex[:8]
    login, password = f"warned-{tag}@example.test", f"pw-{tag}-long-enough"
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        md = (("authorization", f"Bearer {staff_token(stack)}"),)
        customer = stub.CreateCustomer(
            identity_pb2.CreateCustomerRequest(
                business_name=f"Warned Works {tag}",
                email=f"office-{tag}@example.test",
                # A settings message sets every setting: the email switches on, as a new customer's are by default.
                settings=identity_pb2.CustomerSettings(
                    internal_ticket_warning=warning,
                    receive_billing_emails=True,
                    receive_marketing_emails=True,
                    receive_report_emails=True,
                ),
                idempotency_key=f"warned-{tag}",
            ),
            timeout=10,
            metadata=md,
        ).customer
        contact = stub.CreateContact(
            identity_pb2.CreateContactRequest(
                customer_id=customer.id, name="Wendy Warned", email=login, idempotency_key=f"warned-ctc-{tag}"
            ),
            timeout=10,
            metadata=md,
        ).contact
        stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=customer.id, contact_id=contact.id, login=login, email=login, password=password
            ),
            timeout=10,
            metadata=md,
        )
    return customer.id, login, password


async def shots(browser, base: str, cookies: list[dict], paths: dict[str, str]) -> None:  # noqa: ANN001
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    for lang in ("en", "fr"):
        for width in (390, 1280):
            context = await browser.new_context(viewport={"width": width, "height": 900})
            await context.add_cookies([*cookies, {"name": "lang", "value": lang, "url": base}])
            page = await context.new_page()
            for name, path in paths.items():
                await page.goto(base + path)
                await page.screenshot(path=str(SHOTS / f"staff-{name}-{lang}-{width}.png"), full_page=True)
            await context.close()


async def test_a_technician_works_a_portal_ticket_in_the_staff_console(stack, page, browser) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    warning = f"Alarm code at reception; ask for Sam {tag}"
    customer_id, login, password = await asyncio.to_thread(warned_customer, stack, warning)
    base = stack.gateway_url
    subject, note, reply = (
        f"Server room too hot {tag}",
        f"NOTE-{tag}-{uuid.uuid4().hex}",
        f"A technician comes at 9 {tag}",
    )
    customer = api(stack, await asyncio.to_thread(api_sign_in, stack, login, password))
    try:
        made = await asyncio.to_thread(
            customer.post, "/api/v1/tickets", json={"subject": subject, "description": "32 °C and rising."}
        )
        assert made.status_code == 201, made.text
        tid, number = made.json()["id"], made.json()["number"]

        await page.goto(base + "/staff/signin")
        await page.get_by_label("Email or username").fill(stack.config.staff_email)
        await page.get_by_label("Password").fill(stack.config.staff_password)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(base + "/staff")
        await page.get_by_role("link", name="Tickets", exact=True).click()
        await page.get_by_label("Assigned to").select_option("none")
        await page.get_by_label("Customer").select_option(customer_id)
        await page.get_by_role("button", name="Show").click()
        await page.get_by_role("link", name=subject).click()
        await page.wait_for_url(f"**/staff/tickets/{tid}")
        assert warning in await page.locator("#internal-warning").inner_text()

        await page.get_by_role("button", name="Assign to me").click()
        await page.get_by_text("The ticket is assigned to you.").wait_for()
        assert await page.locator("#ticket-assignee").inner_text() == "You"
        await page.get_by_label("Reply to the customer, or write a private note").fill(note)
        await page.get_by_role("button", name="Add private note").click()
        await page.get_by_text("Your private note was added.").wait_for()
        await page.get_by_label("Reply to the customer, or write a private note").fill(reply)
        await page.get_by_role("button", name="Send reply").click()
        await page.get_by_text("Your reply was sent to the customer.").wait_for()
        await page.get_by_label("Status", exact=True).select_option("Waiting on Customer")
        await page.get_by_role("button", name="Set status").click()
        await page.get_by_text("The status was changed.").wait_for()
        assert await page.locator("#ticket-status").inner_text() == "Waiting on customer"
        assert await page.locator("li.comment.private").count() == 1

        # The customer: the reply and the status, never the note; one email, with the reply only.
        seen = (await asyncio.to_thread(customer.get, f"/api/v1/tickets/{tid}/comments")).json()["items"]
        assert [c["body"] for c in seen] == [reply]
        got = await asyncio.to_thread(wait_for_mails, stack, lambda m: reply in str(m), 1)
        assert len(got) == 1 and login in str(got[0])
        assert all(note not in str(m) for m in await asyncio.to_thread(mails, stack)), "the note is in no email"

        # The customer answers; the assigned staff member is emailed.
        answer = f"Thanks, Sam will be there {tag}"
        r = await asyncio.to_thread(customer.post, f"/api/v1/tickets/{tid}/comments", json={"body": answer})
        assert r.status_code == 201, r.text
        told = await asyncio.to_thread(
            wait_for_mails, stack, lambda m: m["subject"].startswith(f"Customer comment on ticket #{number}:"), 1
        )
        assert told[0]["rcpt_to"] == [stack.config.staff_email]

        await shots(
            browser,
            base,
            await page.context.cookies(),
            {"queue": "/staff/tickets", "ticket": f"/staff/tickets/{tid}"},
        )
        for status in ("Resolved", "Closed"):
            await page.goto(base + f"/staff/tickets/{tid}")
            await page.get_by_label("Status", exact=True).select_option(status)
            await page.get_by_role("button", name="Set status").click()
            await page.get_by_text("The status was changed.").wait_for()
        assert await page.locator("#ticket-status").inner_text() == "Closed"
        closed = (await asyncio.to_thread(customer.get, f"/api/v1/tickets/{tid}")).json()
        assert closed["status"] == "Closed" and closed["closed_at"]
    finally:
        customer.close()


async def test_a_portal_session_gets_no_staff_ticket_page(stack, page) -> None:  # noqa: ANN001
    """The staff console's cookie is its own: a portal sign-in never opens /staff/tickets."""
    from tests.e2e.helpers import ACME

    await page.goto(stack.gateway_url + "/signin")
    await page.get_by_label("Email or username").fill(ACME.login)
    await page.get_by_label("Password").fill(ACME.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(stack.gateway_url + "/")
    await page.goto(stack.gateway_url + "/staff/tickets")
    assert "/staff/signin" in page.url
