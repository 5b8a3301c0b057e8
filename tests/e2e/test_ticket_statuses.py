"""Issue 12: the ticket status list is configurable. An admin adds "Waiting on parts" with its English and French
labels from the settings page; staff then set it from the ticket page and filter the queue by it; the customer
reads its label in French; a status a ticket still has cannot be removed (409 through the API, the reason on the
page); a technician may read the list but not change it. The built-in list is put back at the end (the stack is
shared by the whole session)."""

from __future__ import annotations

import re
import uuid

from tests.e2e.helpers import ACME, api, api_sign_in
from tests.e2e.test_staff_customers_pages import _csrf, _pages, _staff_token

BUILT_IN = ("New", "In Progress", "Waiting on Customer", "Scheduled", "Resolved", "Closed")


def _built_in() -> list[dict]:
    return [{"name": n, "closed": n in ("Resolved", "Closed")} for n in BUILT_IN]


def test_an_admin_adds_a_status_that_staff_use_and_the_customer_reads_in_french(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    admin_token = _staff_token(stack)
    customer_token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, admin_token) as staff, api(stack, customer_token) as customer, _pages(stack, admin_token) as page:
        listed = staff.get("/api/v1/staff/ticket-statuses")
        assert listed.status_code == 200 and [s["name"] for s in listed.json()["statuses"]] == list(BUILT_IN)
        try:
            # The settings page: six built-in cards and two blank ones; add the new status as the fourth.
            html = page.get("/staff/settings").text
            assert html.count('class="card status-row"') == 8
            form = {"csrf_token": _csrf(html), "rows": "8"}
            for i, name in enumerate(BUILT_IN):
                form |= {f"name_{i}": name, f"order_{i}": str(i + 1 if i < 3 else i + 2)}
                if name in ("Resolved", "Closed"):
                    form[f"closed_{i}"] = "1"
            form |= {"name_6": "Waiting on parts", "order_6": "4", "label_en_6": "Waiting on parts"}
            form |= {"label_fr_6": "En attente de pièces", "name_7": ""}

            # Without its French label the new status is refused, and the page says why and keeps what was typed.
            refused = page.post("/staff/settings/statuses", data={**form, "label_fr_6": ""}, follow_redirects=False)
            assert refused.status_code == 400 and "needs a label in English and in French" in refused.text
            assert 'value="Waiting on parts"' in refused.text

            saved = page.post("/staff/settings/statuses", data=form, follow_redirects=False)
            assert saved.status_code == 303, saved.text[:500]
            names = [s["name"] for s in staff.get("/api/v1/staff/ticket-statuses").json()["statuses"]]
            assert names == [
                "New",
                "In Progress",
                "Waiting on Customer",
                "Waiting on parts",
                "Scheduled",
                "Resolved",
                "Closed",
            ]

            made = customer.post("/api/v1/tickets", json={"subject": f"Parts {tag}", "description": "Fan is loud."})
            assert made.status_code == 201, made.text
            tid = made.json()["id"]

            # Staff set it from the ticket page (offered there, with its label) and find it by the queue's filter.
            ticket_html = page.get(f"/staff/tickets/{tid}").text
            assert re.search(r'<option value="Waiting on parts"[^>]*>Waiting on parts</option>', ticket_html)
            moved = page.post(
                f"/staff/tickets/{tid}/status",
                data={"csrf_token": _csrf(ticket_html), "status": "waiting on parts"},
                follow_redirects=False,
            )
            assert moved.status_code == 303, moved.text[:500]
            queue = staff.get("/api/v1/staff/tickets", params={"status": "Waiting on parts", "q": tag}).json()
            assert [t["id"] for t in queue["items"]] == [tid]
            assert f"Parts {tag}" in page.get("/staff/tickets", params={"status": "Waiting on parts", "q": tag}).text

            # The customer reads the operator's French label, on the ticket and in its list.
            with _pages(stack, f"{customer_token}; lang=fr", cookie="portal_session") as portal:
                assert "En attente de pièces" in portal.get(f"/tickets/{tid}").text
                assert "En attente de pièces" in portal.get("/tickets", params={"q": tag}).text

            # While the ticket has it, the status cannot be removed; the reason names the ticket count.
            kept = staff.put("/api/v1/staff/ticket-statuses", json={"statuses": _built_in()})
            assert kept.status_code == 409 and "1 ticket is in “Waiting on parts”" in kept.json()["detail"], kept.text
            assert staff.put(f"/api/v1/staff/tickets/{tid}/status", json={"status": "Resolved"}).status_code == 200
        finally:
            restored = staff.put("/api/v1/staff/ticket-statuses", json={"statuses": _built_in()})
        assert restored.status_code == 200, restored.text
        unknown = staff.put(f"/api/v1/staff/tickets/{tid}/status", json={"status": "Waiting on parts"})
        assert unknown.status_code == 400 and "unknown status" in unknown.json()["detail"]
