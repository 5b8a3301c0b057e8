"""Issue 4, SPEC T9–T11 end to end: staff write, publish and unpublish knowledge-base articles through the staff
API and portal users find only the published ones (full-text, in the page and the JSON API, any customer);
announcements reach the portal home (through the gateway's ~10 s cache) only while active and started; the
ticket charts count the user's tickets by priority. A Chromium pass screenshots /kb, an article, the charts and
the home with an announcement, in English and French."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.helpers import ACME, BLUE, api, api_sign_in

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks
CACHE_WAIT = 25.0  # the gateway refreshes announcements at most every 10 s, on a visit


def staff_api(stack) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions",
            json={"login": stack.config.staff_email, "password": stack.config.staff_password},
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


def page_client(stack, token: str, lang: str = "en") -> httpx.Client:  # noqa: ANN001
    cookie = f"portal_session={token}; lang={lang}"
    return httpx.Client(base_url=stack.gateway_url, headers={"Cookie": cookie}, timeout=15, follow_redirects=False)


def wait_for_home(stack, token: str, predicate, limit: float = CACHE_WAIT) -> str:  # noqa: ANN001
    deadline = time.monotonic() + limit
    with page_client(stack, token) as c:
        while True:
            html = c.get("/").text
            if predicate(html) or time.monotonic() > deadline:
                return html
            time.sleep(0.5)


def test_staff_publish_and_portal_search(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:10]
    title = f"Calibrating the intraoral scanner {tag}"
    acme = api_sign_in(stack, ACME.login, ACME.password)
    with staff_api(stack) as staff:
        r = staff.post("/api/v1/staff/kb/articles", json={"title": title, "body": f"Use the calibration tip. {tag}"})
        assert r.status_code == 201, r.text
        article = r.json()
        assert article["published"] is False and article["published_at"] is None
        aid = article["id"]

        with api(stack, acme) as c:
            assert c.get("/api/v1/kb/articles", params={"q": tag}).json()["items"] == []
            assert c.get(f"/api/v1/kb/articles/{aid}").status_code == 404
            # A portal session never uses the staff API.
            assert c.post("/api/v1/staff/kb/articles", json={"title": "x", "body": "y"}).status_code == 403
        with page_client(stack, acme) as p:
            html = p.get("/kb", params={"q": tag}).text
            assert "No article matches" in html and title not in html

        r = staff.put(f"/api/v1/staff/kb/articles/{aid}/published", json={"published": True})
        assert r.status_code == 200 and r.json()["published"] is True, r.text

        with api(stack, acme) as c:
            # Word prefixes, any case, every word: "calib SCANNER" finds it, "calibrating printer" does not.
            found = c.get("/api/v1/kb/articles", params={"q": f"calib SCANNER {tag}"}).json()["items"]
            assert [a["title"] for a in found] == [title]
            assert c.get("/api/v1/kb/articles", params={"q": f"calibrating printer {tag}"}).json()["items"] == []
            assert c.get(f"/api/v1/kb/articles/{aid}").json()["body"] == f"Use the calibration tip. {tag}"
        # Operator-wide: another customer finds it too.
        blue = api_sign_in(stack, BLUE.login, BLUE.password)
        with api(stack, blue) as c:
            assert [a["id"] for a in c.get("/api/v1/kb/articles", params={"q": tag}).json()["items"]] == [aid]
        with page_client(stack, acme) as p:
            assert title in p.get("/kb", params={"q": tag}).text
            assert title in p.get("/kb").text  # newest published first
            page = p.get(f"/kb/{aid}")
            assert page.status_code == 200 and title in page.text and "Use the calibration tip." in page.text
            fr = page_client(stack, acme, "fr").get("/kb", params={"q": tag}).text
            assert "Base de connaissances" in fr and title in fr

        r = staff.put(f"/api/v1/staff/kb/articles/{aid}/published", json={"published": False})
        assert r.status_code == 200, r.text
        with api(stack, acme) as c:
            assert c.get("/api/v1/kb/articles", params={"q": tag}).json()["items"] == []
        with page_client(stack, acme) as p:
            assert p.get(f"/kb/{aid}").status_code == 404
        # Staff still have it, and can delete it.
        assert [a["id"] for a in staff.get("/api/v1/staff/kb/articles", params={"q": tag}).json()["items"]] == [aid]
        assert staff.delete(f"/api/v1/staff/kb/articles/{aid}").status_code == 204
        assert staff.get(f"/api/v1/staff/kb/articles/{aid}").status_code == 404


def test_announcements_reach_the_home_while_active(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:10]
    now = datetime.now(UTC)
    acme = api_sign_in(stack, ACME.login, ACME.password)
    with staff_api(stack) as staff:
        later = {
            "title": f"Office move {tag}",
            "body": "Next month.",
            "starts_at": (now + timedelta(days=7)).isoformat(),
        }
        assert staff.post("/api/v1/staff/announcements", json=later).status_code == 201
        body = {"title": f"Network maintenance {tag}", "body": f"Saturday 08:00–10:00 UTC. {tag}"}
        r = staff.post("/api/v1/staff/announcements", json=body)
        assert r.status_code == 201, r.text
        ann = r.json()
        assert (
            staff.post(
                "/api/v1/staff/announcements",
                json={"title": "no zone", "body": "x", "starts_at": "2026-01-01T00:00:00"},
            ).status_code
            == 400
        )

        html = wait_for_home(stack, acme, lambda h: f"Network maintenance {tag}" in h)
        assert f"Network maintenance {tag}" in html and "Announcements" in html
        assert f"Office move {tag}" not in html  # not started yet
        with api(stack, acme) as c:
            titles = [a["title"] for a in c.get("/api/v1/announcements").json()]
        assert f"Network maintenance {tag}" in titles and f"Office move {tag}" not in titles

        r = staff.put(f"/api/v1/staff/announcements/{ann['id']}", json={**body, "active": False})
        assert r.status_code == 200 and r.json()["active"] is False, r.text
        html = wait_for_home(stack, acme, lambda h: f"Network maintenance {tag}" not in h)
        assert f"Network maintenance {tag}" not in html
        listed = staff.get("/api/v1/staff/announcements", params={"page_size": 100}).json()["items"]
        assert {a["title"] for a in listed} >= {f"Network maintenance {tag}", f"Office move {tag}"}
        for a in listed:
            if tag in a["title"]:
                assert staff.delete(f"/api/v1/staff/announcements/{a['id']}").status_code == 204


def _open(charts: dict) -> dict[str, int]:
    return {c["priority"]: c["count"] for c in charts["open_by_priority"]}


def _resolved(charts: dict) -> dict[str, int]:
    return {r["priority"]: r["count"] for r in charts["resolution_by_priority"]}


def test_ticket_charts(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    acme = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, acme) as c:
        before = c.get("/api/v1/tickets/charts").json()
        ids = []
        for priority in ("High", "High", "Urgent"):
            r = c.post(
                "/api/v1/tickets", json={"subject": f"Chart probe {tag}", "description": "x", "priority": priority}
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        assert c.post(f"/api/v1/tickets/{ids[2]}/close").status_code == 200
        after = c.get("/api/v1/tickets/charts").json()
    assert _open(after).get("High", 0) - _open(before).get("High", 0) == 2
    assert _open(after).get("Urgent", 0) == _open(before).get("Urgent", 0)
    assert _resolved(after).get("Urgent", 0) - _resolved(before).get("Urgent", 0) == 1
    assert all(r["mean_hours"] >= 0 for r in after["resolution_by_priority"])

    with page_client(stack, acme) as p:
        html = p.get("/tickets/charts").text
        assert "Open tickets by priority" in html and "<svg" in html and "<table" in html
        # Readable without JavaScript: the figures are text in the drawing and in the table.
        assert f"High — {_open(after)['High']} (" in html
        assert "Resolution time by priority" in html
        assert 'href="/tickets/charts"' in p.get("/tickets").text
        fr = page_client(stack, acme, "fr").get("/tickets/charts").text
        assert "Tickets ouverts par priorité" in fr and f"Haute — {_open(after)['High']} (" in fr


async def _shot(page, name: str) -> None:  # noqa: ANN001
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"kb-{name}.png"), full_page=True)


async def test_kb_charts_and_announcements_in_chromium(stack, page) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    base = stack.gateway_url

    def prepare() -> tuple[str, str]:
        with staff_api(stack) as staff:
            r = staff.post(
                "/api/v1/staff/kb/articles",
                json={
                    "title": f"Printer says “paper jam” but there is no paper {tag}",
                    "body": "Open the rear door and remove any torn piece.\nThen switch the printer off and on.\n\n"
                    "If the message stays, open a ticket with the printer's model.",
                    "published": True,
                },
            )
            assert r.status_code == 201, r.text
            r2 = staff.post(
                "/api/v1/staff/announcements",
                json={"title": f"Holiday hours {tag}", "body": "The help desk is closed on 25 and 26 December."},
            )
            assert r2.status_code == 201, r2.text
            return r.json()["id"], r2.json()["id"]

    def tickets() -> None:
        with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
            for priority, close in (("High", False), ("Urgent", True), ("Urgent", False), ("Low", True)):
                json = {"subject": f"Chart probe {tag}", "description": "For the charts.", "priority": priority}
                r = c.post("/api/v1/tickets", json=json)
                assert r.status_code == 201, r.text
                if close:
                    assert c.post(f"/api/v1/tickets/{r.json()['id']}/close").status_code == 200

    article_id, announcement_id = await asyncio.to_thread(prepare)
    await asyncio.to_thread(tickets)
    await page.goto(base + "/signin")
    await page.get_by_label("Email or username").fill(ACME.login)
    await page.get_by_label("Password").fill(ACME.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base + "/")

    deadline = time.monotonic() + CACHE_WAIT
    while await page.get_by_text(f"Holiday hours {tag}").count() == 0 and time.monotonic() < deadline:
        await asyncio.sleep(1)
        await page.reload()
    await page.get_by_role("heading", name="Announcements").wait_for()
    await _shot(page, "home-en")

    await page.get_by_role("link", name="Knowledge base").click()
    await page.wait_for_url(base + "/kb")
    await page.get_by_label("Search articles").fill("paper jam")
    await page.get_by_role("search", name="Search the knowledge base").get_by_role("button", name="Search").click()
    await page.wait_for_url("**/kb?q=*")
    await page.get_by_role("link", name=f"Printer says “paper jam” but there is no paper {tag}").wait_for()
    await _shot(page, "search-en")
    await page.get_by_role("link", name=f"Printer says “paper jam” but there is no paper {tag}").click()
    await page.wait_for_url(f"**/kb/{article_id}")
    await page.get_by_text("Open the rear door").wait_for()
    await _shot(page, "article-en")

    await page.goto(base + "/kb?q=zzzznothing")
    await page.get_by_text("No article matches").wait_for()

    await page.goto(base + "/tickets")
    await page.get_by_role("link", name="Charts").click()
    await page.wait_for_url(base + "/tickets/charts")
    await page.get_by_role("img", name="Open tickets by priority").wait_for()
    await _shot(page, "charts-en")

    await page.goto(base + "/lang/fr?next=/tickets/charts")
    await page.get_by_role("heading", name="Graphiques des tickets").wait_for()
    await _shot(page, "charts-fr")
    await page.goto(base + "/kb")
    await page.get_by_role("heading", name="Base de connaissances").wait_for()
    await _shot(page, "list-fr")
    await page.goto(base + "/")
    await page.get_by_role("heading", name="Annonces").wait_for()
    await _shot(page, "home-fr")
    await page.goto(base + "/lang/en?next=/")

    def cleanup() -> None:
        with staff_api(stack) as staff:
            staff.delete(f"/api/v1/staff/announcements/{announcement_id}")

    await asyncio.to_thread(cleanup)
