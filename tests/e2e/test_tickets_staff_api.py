"""Issue 12, working tickets through the staff API: the queue with its filters, a portal-created ticket opened with
its notes and the customer's warning, assigned to me, a private note and a public reply, statuses — the customer
sees the reply and never the note, and gets the reply's email; a portal session is refused every staff route."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.helpers import ACME, BLUE, api, api_sign_in, mails, wait_for_mails
from tests.e2e.test_staff_customers_pages import _csrf, _pages, _staff_token


@pytest.fixture(scope="module")
def staff(stack):  # noqa: ANN001, ANN201
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
        assert r.status_code == 201, r.text
    with api(stack, r.json()["session_token"]) as client:
        yield client


def _numbers(r: httpx.Response) -> list[int]:
    assert r.status_code == 200, r.text
    return [t["number"] for t in r.json()["items"]]


def test_staff_work_a_portal_ticket_and_the_customer_sees_the_reply_but_never_the_note(stack, staff) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    note, reply = f"PRIVATE-{tag}-{uuid.uuid4().hex}", f"Public reply {tag}"
    customer = api(stack, api_sign_in(stack, ACME.login, ACME.password))
    with customer:
        created = customer.post(
            "/api/v1/tickets",
            json={"subject": f"Queue test {tag}", "description": "Laptop will not boot.", "priority": "urgent"},
        )
        assert created.status_code == 201, created.text
        ticket = created.json()
        tid, number = ticket["id"], ticket["number"]

        # The queue: unassigned, the customer's, urgent; then assigned to me.
        assert number in _numbers(staff.get("/api/v1/staff/tickets", params={"assignee": "none", "q": tag}))
        assert _numbers(
            staff.get("/api/v1/staff/tickets", params={"customer_id": ticket["customer_id"], "q": tag})
        ) == [number]
        assert _numbers(staff.get("/api/v1/staff/tickets", params={"priority": "Urgent", "q": tag})) == [number]
        assert _numbers(staff.get("/api/v1/staff/tickets", params={"priority": "Low", "q": tag})) == []
        mine = staff.put(f"/api/v1/staff/tickets/{tid}/assignee", json={"assignee_id": "me"})
        assert mine.status_code == 200 and mine.json()["assignee_id"], mine.text
        assert _numbers(staff.get("/api/v1/staff/tickets", params={"assignee": "me", "q": tag})) == [number]
        assert number not in _numbers(staff.get("/api/v1/staff/tickets", params={"assignee": "none", "q": tag}))

        r = staff.post(f"/api/v1/staff/tickets/{tid}/comments", json={"body": note, "private": True})
        assert r.status_code == 201 and r.json()["is_public"] is False, r.text
        r = staff.post(f"/api/v1/staff/tickets/{tid}/comments", json={"body": reply})
        assert r.status_code == 201 and r.json()["is_public"] is True, r.text
        r = staff.put(f"/api/v1/staff/tickets/{tid}/status", json={"status": "Waiting on Customer"})
        assert r.status_code == 200 and r.json()["status"] == "Waiting on Customer", r.text

        view = staff.get(f"/api/v1/staff/tickets/{tid}").json()
        assert [(c["body"], c["is_public"]) for c in view["comments"]] == [(reply, True), (note, False)]

        # The customer: the reply and the status, never the note — in the API and in the email it got.
        seen = customer.get(f"/api/v1/tickets/{tid}/comments").json()["items"]
        assert [c["body"] for c in seen] == [reply]
        assert customer.get(f"/api/v1/tickets/{tid}").json()["status"] == "Waiting on Customer"
        got = wait_for_mails(stack, lambda m: reply in str(m), count=1)
        assert len(got) == 1
        assert all(note not in str(m) for m in mails(stack)), "the note is in no email at all"

        # Resolved ends its open life; In Progress re-opens it.
        assert staff.put(f"/api/v1/staff/tickets/{tid}/status", json={"status": "Resolved"}).json()["closed_at"]
        assert number not in _numbers(staff.get("/api/v1/staff/tickets", params={"open_only": "true", "q": tag}))
        reopened = staff.put(f"/api/v1/staff/tickets/{tid}/status", json={"status": "In Progress"}).json()
        assert reopened["closed_at"] is None


def test_bad_input_to_the_staff_ticket_routes_is_a_clear_400_or_404(stack, staff) -> None:  # noqa: ANN001
    r = staff.put(f"/api/v1/staff/tickets/{uuid.uuid4()}/status", json={"status": "Closed"})
    assert r.status_code == 404, r.text
    r = staff.put(f"/api/v1/staff/tickets/{uuid.uuid4()}/status", json={"status": "Done-ish"})
    assert r.status_code == 400 and "status" in r.json()["detail"], r.text
    r = staff.get("/api/v1/staff/tickets", params={"priority": "whenever"})
    assert r.status_code == 400 and "priority" in r.json()["detail"], r.text
    r = staff.post(f"/api/v1/staff/tickets/{uuid.uuid4()}/comments", json={"body": ""})
    assert r.status_code == 400, r.text


def test_a_portal_session_is_refused_every_staff_ticket_route(stack) -> None:  # noqa: ANN001
    tid = str(uuid.uuid4())
    with api(stack, api_sign_in(stack, BLUE.login, BLUE.password)) as portal:
        for method, path, body in (
            ("GET", "/api/v1/staff/tickets", None),
            ("GET", f"/api/v1/staff/tickets/{tid}", None),
            ("POST", f"/api/v1/staff/tickets/{tid}/comments", {"body": "x"}),
            ("PUT", f"/api/v1/staff/tickets/{tid}/assignee", {"assignee_id": "me"}),
            ("PUT", f"/api/v1/staff/tickets/{tid}/status", {"status": "Closed"}),
        ):
            r = portal.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.status_code)


def test_staff_assign_to_anyone_in_the_staff_directory_and_no_one_else(stack, staff) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    made = staff.post(
        "/api/v1/staff/tickets",
        json={"customer_id": _acme_id(stack), "subject": f"Directory {tag}", "description": "d"},
    )
    assert made.status_code == 201, made.text
    tid = made.json()["ticket"]["id"]
    people = staff.get("/api/v1/staff/directory").json()
    assert people and all(set(p) == {"id", "name"} for p in people)
    someone = people[0]["id"]
    r = staff.put(f"/api/v1/staff/tickets/{tid}/assignee", json={"assignee_id": someone})
    assert r.status_code == 200 and r.json()["assignee_id"] == someone, r.text
    r = staff.put(f"/api/v1/staff/tickets/{tid}/assignee", json={"assignee_id": "not-a-staff-member"})
    assert r.status_code == 400 and "assignee_id" in r.text, r.text
    assert staff.get(f"/api/v1/staff/tickets/{tid}").json()["ticket"]["assignee_id"] == someone
    r = staff.put(f"/api/v1/staff/tickets/{tid}/assignee", json={"assignee_id": ""})
    assert r.status_code == 200 and r.json()["assignee_id"] == ""


def _acme_id(stack) -> str:  # noqa: ANN001
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        return c.get("/api/v1/me").json()["customer_id"]


def test_an_admin_chooses_who_portal_tickets_go_to(stack, staff) -> None:  # noqa: ANN001
    token = _staff_token(stack)
    me = staff.get("/api/v1/staff/directory").json()
    with _pages(stack, token) as c:
        page = c.get("/staff/settings").text
        assert "Portal tickets go to" in page
        r = c.post("/staff/settings", data={"csrf_token": _csrf(page), "default_assignee": "me"})
        assert r.status_code == 303 and r.headers["location"] == "/staff/settings?done=saved"
        r = c.post("/staff/settings", data={"csrf_token": _csrf(page), "default_assignee": "nobody-like-this"})
        assert r.status_code == 400 and 'id="error"' in r.text
    current = staff.get("/api/v1/staff/ticket-settings").json()["default_assignee_id"]
    assert current and current in {p["id"] for p in me}
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as customer:
        made = customer.post("/api/v1/tickets", json={"subject": "Default assignee", "description": "d"}).json()
    assert staff.get(f"/api/v1/staff/tickets/{made['id']}").json()["ticket"]["assignee_id"] == current
    r = staff.put("/api/v1/staff/ticket-settings", json={"default_assignee_id": "x" * 10})
    assert r.status_code == 400 and "default_assignee_id" in r.text
    assert staff.put("/api/v1/staff/ticket-settings", json={"default_assignee_id": ""}).json() == {
        "default_assignee_id": ""
    }
