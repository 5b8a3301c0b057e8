"""SPEC T1 end to end, real processes: a ticket keeps its contact's name, so the home's open tickets and the ticket
list show its contact and issue type (one call to tickets, no identity look-up per row); the staff API takes the
contact's name from identity and refuses another customer's contact; Chromium screenshots of both pages in English
and French, wide and narrow."""

from __future__ import annotations

import asyncio
import html
import os
import re
import uuid
from pathlib import Path

from tests.e2e.helpers import ACME, BLUE, api, api_sign_in
from tests.e2e.test_tickets_invoiced_and_refs import invoice_for, new_ticket, staff_api_token, wait_invoiced
from tests.e2e.test_tickets_private_notes import page_client

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


def row_of(page: str, subject: str) -> list[str]:
    """The visible text of each cell of the ticket table's row whose subject this is."""
    for tr in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if subject in tr:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
            return [html.unescape(" ".join(re.sub(r"<[^>]+>", " ", c).split())) for c in cells]
    raise AssertionError(f"no row for {subject!r}")


def me(stack, token: str) -> dict:  # noqa: ANN001
    with api(stack, token) as c:
        return c.get("/api/v1/me").json()


def test_the_home_shows_a_new_tickets_contact_and_issue_type(stack) -> None:  # noqa: ANN001
    acme = api_sign_in(stack, ACME.login, ACME.password)
    issue_type = f"Printer {uuid.uuid4().hex[:6]}"
    made = new_ticket(stack, acme, issue_type=issue_type)
    assert (made["contact_id"], made["contact_name"]) == (me(stack, acme)["contact_id"], ACME.contact_name)
    with page_client(stack, acme) as c:
        home = c.get("/").text
        listed = c.get("/tickets", params={"q": made["subject"]}).text
        fr = c.get("/", headers={"Accept-Language": "fr"}).text
    # Number, Contact, Subject, Created, Last updated, Issue type, Status (SPEC T1's order).
    cells = row_of(home, made["subject"])
    assert cells[0] == f"#{made['number']}" and cells[1:3] == [ACME.contact_name, made["subject"]]
    assert cells[5:] == [issue_type, "New"]
    cells = row_of(listed, made["subject"])
    assert cells[1] == ACME.contact_name and issue_type in cells
    assert '<th scope="col">Type de demande</th>' in fr and '<th scope="col">Contact</th>' in fr
    assert row_of(fr, made["subject"])[1] == ACME.contact_name


def test_the_staff_api_names_the_contact_from_identity_and_refuses_another_customers(stack) -> None:  # noqa: ANN001
    acme = api_sign_in(stack, ACME.login, ACME.password)
    acme_me, blue_me = me(stack, acme), me(stack, api_sign_in(stack, BLUE.login, BLUE.password))
    subject = f"Staff contact probe {uuid.uuid4().hex[:8]}"
    body = {"customer_id": acme_me["customer_id"], "subject": subject, "description": "d", "issue_type": "Network"}
    with api(stack, staff_api_token(stack)) as c:
        for contact_id in (blue_me["contact_id"], "no-such-contact"):
            r = c.post("/api/v1/staff/tickets", json={**body, "contact_id": contact_id})
            assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json"), r.text
            assert r.json()["errors"] == [{"field": "contact_id", "message": "not a contact of this customer"}]
        # The name is the gateway's to fill in from identity, never the client's.
        r = c.post("/api/v1/staff/tickets", json={**body, "contact_id": acme_me["contact_id"], "contact_name": "X"})
        assert r.status_code == 400, r.text
        with api(stack, acme) as portal:
            assert portal.get("/api/v1/tickets", params={"q": subject}).json()["items"] == [], "nothing was written"
        r = c.post("/api/v1/staff/tickets", json={**body, "contact_id": acme_me["contact_id"]})
        assert r.status_code == 201, r.text
        made = r.json()["ticket"]
    assert (made["contact_id"], made["contact_name"]) == (acme_me["contact_id"], ACME.contact_name)
    with page_client(stack, acme) as c:
        assert row_of(c.get("/").text, subject)[1] == ACME.contact_name


def invoiced_and_contactless(stack) -> tuple[dict, str]:  # noqa: ANN001
    """An invoiced ticket of ACME's contact and a staff ticket for ACME without a contact (its subject)."""
    acme = api_sign_in(stack, ACME.login, ACME.password)
    billed = new_ticket(stack, acme, issue_type="Hardware")
    inv = invoice_for(stack, billed["customer_id"], billed["id"])
    assert wait_invoiced(stack, acme, billed["id"], inv.number)["invoice_number"] == inv.number
    subject = f"Server room too warm {uuid.uuid4().hex[:6]}"
    with api(stack, staff_api_token(stack)) as c:
        body = {
            "customer_id": billed["customer_id"],
            "subject": subject,
            "description": "d",
            "issue_type": "Facilities",
        }
        assert c.post("/api/v1/staff/tickets", json=body).status_code == 201
    return {**billed, "invoice_number": inv.number}, subject


async def test_screenshots_of_the_open_tickets_in_english_and_french(stack, page) -> None:  # noqa: ANN001
    base = stack.gateway_url
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    billed, contactless = await asyncio.to_thread(invoiced_and_contactless, stack)
    await page.goto(base + "/signin")
    await page.get_by_label("Email or username").fill(ACME.login)
    await page.get_by_label("Password").fill(ACME.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + "/")
    for lang in ("en", "fr"):
        await page.goto(f"{base}/lang/{lang}?next=/")
        await page.wait_for_url(base + "/")
        table = page.locator("table.ticket-table")
        # The contact's name shows in its column; a ticket without one says so to a screen reader; the invoiced
        # marker's text stays readable beside its icon.
        await table.get_by_role("cell", name=ACME.contact_name).first.wait_for()
        none = "No contact" if lang == "en" else "Aucun contact"
        row = table.get_by_role("row").filter(has_text=contactless)
        assert await row.get_by_role("cell", name=none).count() == 1
        marker = ("Invoiced " if lang == "en" else "Facturé ") + billed["invoice_number"]
        assert await table.get_by_role("row").filter(has_text=billed["subject"]).get_by_text(marker).count() == 1
        await page.screenshot(path=str(SHOTS / f"tickets-contact-home-{lang}.png"), full_page=True)
        await page.goto(f"{base}/tickets")
        await page.locator("table.ticket-table").wait_for()
        await page.screenshot(path=str(SHOTS / f"tickets-contact-list-{lang}.png"), full_page=True)
        await page.set_viewport_size({"width": 375, "height": 800})
        for name, path in (("home", "/"), ("list", "/tickets")):
            await page.goto(base + path)
            # Narrow: each ticket is a block of labelled lines; neither the page nor the table scrolls sideways.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} scrolls sideways at 375 px ({width} px)"
            wrap = page.locator(".table-wrap:has(table.ticket-table)")
            assert await wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{path}: the ticket table is cut off"
            await page.screenshot(path=str(SHOTS / f"tickets-contact-{name}-narrow-{lang}.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 900})


def test_a_view_all_user_opens_a_ticket_for_another_contact_with_an_issue_type(stack) -> None:  # noqa: ANN001
    """SPEC T3 in the portal's form: issue type and, for a View All user, the contact (names only, from identity);
    another customer's contact is refused through the form and the API."""
    acme = api_sign_in(stack, ACME.login, ACME.password)
    acme_me = me(stack, acme)
    blue_me = me(stack, api_sign_in(stack, BLUE.login, BLUE.password))
    name = f"Dana Field {uuid.uuid4().hex[:6]}"
    with api(stack, staff_api_token(stack)) as staff:
        made = staff.post(
            f"/api/v1/staff/customers/{acme_me['customer_id']}/contacts",
            json={"name": name, "email": f"dana-{uuid.uuid4().hex[:6]}@acme.test", "phone": "555-0199"},
        )
        assert made.status_code == 201, made.text
        dana = made.json()["id"]
    subject = f"Laptop for Dana {uuid.uuid4().hex[:8]}"
    with page_client(stack, acme) as c:
        form = c.get("/tickets/new").text
        assert re.search(rf'<option value="{dana}">{re.escape(name)}</option>', form)
        assert "555-0199" not in form, "the picker shows names, never a contact's phone or address"
        assert '<option value="Hardware">Hardware</option>' in form
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)
        fields = {"csrf_token": csrf, "idempotency_key": key, "subject": subject, "description": "Screen flickers."}
        refused = c.post("/tickets/new", data={**fields, "contact_id": blue_me["contact_id"], "issue_type": "Hardware"})
        assert refused.status_code == 400 and "Choose a contact from the list." in refused.text
        sent = c.post("/tickets/new", data={**fields, "contact_id": dana, "issue_type": "Hardware"})
        assert sent.status_code == 303, sent.text[:500]
        fr = c.get("/tickets", params={"q": subject}, headers={"Accept-Language": "fr"}).text
    with api(stack, acme) as c:
        ticket = c.get(sent.headers["location"].replace("/tickets/", "/api/v1/tickets/")).json()
        assert (ticket["contact_id"], ticket["contact_name"], ticket["issue_type"]) == (dana, name, "Hardware")
        r = c.post("/api/v1/tickets", json={"subject": "x", "description": "y", "contact_id": blue_me["contact_id"]})
        assert r.status_code == 400 and "contact_id" in r.json()["detail"], r.text
    cells = row_of(fr, subject)
    assert cells[1] == name and "Matériel" in cells
