"""Issue 12's browser test, whole, in Chromium on a stack of its own where every staff member must use two-step
sign-in (IDENTITY_REQUIRE_STAFF_MFA): an admin enrols and invites a technician from /staff/team; the technician
accepts from the caught email, signs in with an authenticator it enrols, opens the queue, assigns a portal-created
ticket to itself, sees the customer's internal warning, adds a private note and a public reply, sets Waiting on
customer; the customer sees the reply (not the note) and gets one email; the customer comments and the technician
is emailed; the technician resolves and closes the ticket."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from portal_local.s3 import WeedS3
from portal_local.stack import Stack, StackConfig
from tests.e2e.helpers import mails, wait_for_mails


@pytest.fixture(scope="module")
def mfa_stack(tmp_path_factory: pytest.TempPathFactory, s3_server: WeedS3) -> Iterator[Stack]:
    var: Path = tmp_path_factory.mktemp("staff-mfa") / "var"
    # The session's S3 server, as the session's stack uses it: one weed less to start and stop.
    config = StackConfig(var_dir=var, free_ports=True, s3=s3_server, env={"IDENTITY_REQUIRE_STAFF_MFA": "true"})
    with Stack(config) as running:
        yield running


async def _sign_in_and_enrol(page, base: str, login: str, password: str) -> None:  # noqa: ANN001
    """The password, then the authenticator every staff member must enrol at its first sign-in here."""
    await page.goto(base + "/staff/signin")
    await page.get_by_label("Email or username").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/staff/mfa/enrol?next=/staff")
    secret = (await page.locator("#mfa-secret").inner_text()).strip()
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on two-step verification").click()
    await page.get_by_role("link", name="I have saved them, continue").click()
    await page.wait_for_url(base + "/staff")


def _customer(base: str, admin_token: str, warning: str) -> tuple[str, str, str]:
    """Through the staff API as the admin: a customer with an internal warning, a contact and the contact's portal
    user. (customer id, login, password)."""
    tag = uuid.uuid4().hex[:8]
    login, password = f"clinic-{tag}@example.test", f"clinic-pw-{tag}-long"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_token}"}, timeout=15) as c:
        r = c.post(
            "/api/v1/staff/customers",
            json={
                "business_name": f"Harbour Clinic {tag}",
                "email": f"office-{tag}@example.test",
                "settings": {"internal_ticket_warning": warning},
                "idempotency_key": f"clinic-{tag}",
            },
        )
        assert r.status_code == 201, r.text
        customer_id = r.json()["id"]
        r = c.post(f"/api/v1/staff/customers/{customer_id}/contacts", json={"name": "Cleo Clinic", "email": login})
        assert r.status_code == 201, r.text
        r = c.post(
            f"/api/v1/staff/customers/{customer_id}/portal-users",
            json={"contact_id": r.json()["id"], "email": login, "password": password},
        )
        assert r.status_code == 201, r.text
    return customer_id, login, password


async def test_a_technician_invited_by_an_admin_works_a_portal_ticket_to_closed(mfa_stack, page, browser) -> None:  # noqa: ANN001
    stack = mfa_stack
    base = stack.gateway_url
    tag = uuid.uuid4().hex[:8]
    tech_email, tech_password = f"tess-{tag}@example.test", f"tess-pw-{tag}-long"

    # The admin enrols, then invites the technician from the team page.
    await _sign_in_and_enrol(page, base, stack.config.staff_email, stack.config.staff_password)
    await page.get_by_role("link", name="Team", exact=True).click()
    await page.get_by_label("Email", exact=True).fill(tech_email)
    await page.get_by_label("Name", exact=True).fill(f"Tess Tech {tag}")
    await page.get_by_label("Role", exact=True).select_option("technician")
    await page.get_by_role("button", name="Send invitation").click()
    await page.get_by_text("Invitation sent.").wait_for()
    admin_token = next(c["value"] for c in await page.context.cookies() if c["name"] == "staff_session")

    warning = f"Gate code 4711; ask for the duty nurse {tag}"
    customer_id, login, password = await asyncio.to_thread(_customer, base, admin_token, warning)

    # The customer opens a ticket in the portal.
    async with httpx.AsyncClient(base_url=base, timeout=15) as anon:
        r = await anon.post("/api/v1/sessions", json={"login": login, "password": password})
        assert r.status_code == 201, r.text
    bearer = {"Authorization": f"Bearer {r.json()['session_token']}"}
    customer = httpx.AsyncClient(base_url=base, headers=bearer, timeout=15)
    subject = f"Label printer offline {tag}"
    try:
        made = await customer.post("/api/v1/tickets", json={"subject": subject, "description": "Since the power cut."})
        assert made.status_code == 201, made.text
        tid, number = made.json()["id"], made.json()["number"]

        # The technician accepts the invitation from the email, then signs in with an authenticator.
        mail = (await asyncio.to_thread(wait_for_mails, stack, lambda m: tech_email in m["rcpt_to"], 1))[0]
        link = re.search(r"(http\S+/staff/invitation\?token=\S+)", mail["text"]).group(1)
        tech_context = await browser.new_context(viewport={"width": 1280, "height": 900})
        tech = await tech_context.new_page()
        await tech.goto(link)
        await tech.get_by_label("New password", exact=True).fill(tech_password)
        await tech.get_by_label("New password, again").fill(tech_password)
        await tech.get_by_role("button", name="Save my password").click()
        await tech.wait_for_url(base + "/staff/invitation/done")
        await _sign_in_and_enrol(tech, base, tech_email, tech_password)
        assert await tech.get_by_role("link", name="Team", exact=True).count() == 0

        # The queue: unassigned tickets of the customer; the ticket, its warning; assign to me.
        await tech.get_by_role("link", name="Tickets", exact=True).click()
        await tech.get_by_label("Assigned to").select_option("none")
        await tech.get_by_label("Customer").select_option(customer_id)
        await tech.get_by_role("button", name="Show").click()
        await tech.get_by_role("link", name=subject).click()
        await tech.wait_for_url(f"**/staff/tickets/{tid}")
        assert warning in await tech.locator("#internal-warning").inner_text()
        await tech.get_by_role("button", name="Assign to me").click()
        await tech.get_by_text("The ticket is assigned to you.").wait_for()

        note, reply = f"NOTE-{secrets.token_hex(12)}", f"We will replace the fuse today {tag}"
        box = tech.get_by_label("Reply to the customer, or write a private note")
        await box.fill(note)
        await tech.get_by_role("button", name="Add private note").click()
        await tech.get_by_text("Your private note was added.").wait_for()
        await box.fill(reply)
        await tech.get_by_role("button", name="Send reply").click()
        await tech.get_by_text("Your reply was sent to the customer.").wait_for()
        await tech.get_by_label("Status", exact=True).select_option("Waiting on Customer")
        await tech.get_by_role("button", name="Set status").click()
        await tech.get_by_text("The status was changed.").wait_for()

        # The customer: the reply, not the note, and one email with the reply.
        seen = (await customer.get(f"/api/v1/tickets/{tid}/comments")).json()["items"]
        assert [c["body"] for c in seen] == [reply]
        assert (await customer.get(f"/api/v1/tickets/{tid}")).json()["status"] == "Waiting on Customer"
        replies = await asyncio.to_thread(
            wait_for_mails, stack, lambda m: m["subject"].startswith(f"New reply on ticket #{number}:"), 1
        )
        assert len(replies) == 1 and replies[0]["rcpt_to"] == [login] and reply in str(replies[0])
        assert all(note not in str(m) for m in await asyncio.to_thread(mails, stack))

        # The customer comments: the technician (its assignee) is emailed.
        r = await customer.post(f"/api/v1/tickets/{tid}/comments", json={"body": f"Thanks {tag}"})
        assert r.status_code == 201, r.text
        told = await asyncio.to_thread(
            wait_for_mails, stack, lambda m: m["subject"].startswith(f"Customer comment on ticket #{number}:"), 1
        )
        assert told[0]["rcpt_to"] == [tech_email]

        # Resolved, then Closed.
        for status in ("Resolved", "Closed"):
            await tech.get_by_label("Status", exact=True).select_option(status)
            await tech.get_by_role("button", name="Set status").click()
            await tech.get_by_text("The status was changed.").wait_for()
        assert await tech.locator("#ticket-status").inner_text() == "Closed"
        closed = (await customer.get(f"/api/v1/tickets/{tid}")).json()
        assert closed["status"] == "Closed" and closed["closed_at"]
        await tech_context.close()
    finally:
        await customer.aclose()
