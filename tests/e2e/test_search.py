"""Global search (SPEC H4) end to end, against the session's stack: records made through the product's own APIs
for two customers; the header's box, /search, /staff/search and the JSON API find a ticket by a word of a comment,
by its number, an article by its title — and never the other customer's records, of any kind. A tickets service
that stops answering during a search gives a partial answer that says so, within the deadline, never a 5xx.

Invoices, estimates, payments, assets and documents are found through billing's and assets' own Search RPCs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import ACME, BLUE, api, api_sign_in

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


def staff_session(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions",
            json={"login": stack.config.staff_email, "password": stack.config.staff_password},
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def search(client: httpx.Client, q: str, path: str = "/api/v1/search", **params: str) -> dict:
    r = client.get(path, params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()


def hits(answer: dict, kind: str) -> list[dict]:
    return next((g["hits"] for g in answer["groups"] if g["kind"] == kind), [])


def every_hit(answer: dict) -> list[dict]:
    return [h for g in answer["groups"] for h in g["hits"]]


@pytest.fixture(scope="module")
def world(stack):  # noqa: ANN001, ANN201
    """Two customers' tickets with a comment that both share a made-up word, a published article, and the
    sessions: ACME's and BLUE's portal users (Admin Portal Group) and staff."""
    tag = uuid.uuid4().hex[:8]
    acme, blue, staff = (
        api_sign_in(stack, ACME.login, ACME.password),
        api_sign_in(stack, BLUE.login, BLUE.password),
        staff_session(stack),
    )
    made: dict[str, dict] = {}
    for name, token in (("acme", acme), ("blue", blue)):
        with api(stack, token) as c:
            me = c.get("/api/v1/me").json()
            r = c.post(
                "/api/v1/tickets",
                json={"subject": f"Scanner {name} {tag}", "description": f"The scanner of {name} stopped."},
            )
            assert r.status_code == 201, r.text
            ticket = r.json()
            r = c.post(f"/api/v1/tickets/{ticket['id']}/comments", json={"body": f"The fuser{tag} is overheating"})
            assert r.status_code == 201, r.text
            made[name] = {"ticket": ticket, "comment": r.json(), "customer_id": me["customer_id"]}
    with api(stack, staff) as s:
        r = s.post(
            "/api/v1/staff/kb/articles",
            json={"title": f"Resetting the router {tag}", "body": "Hold the button ten seconds.", "published": True},
        )
        assert r.status_code == 201, r.text
        article = r.json()
        # A private note with the shared word: staff find it, portal users never do.
        r = s.post(
            f"/api/v1/staff/tickets/{made['acme']['ticket']['id']}/comments",
            json={"body": f"Internal: fuser{tag} warranty void", "private": True},
        )
        assert r.status_code == 201, r.text
        made["note"] = r.json()
    return {"tag": tag, "acme": acme, "blue": blue, "staff": staff, "made": made, "article": article}


def test_portal_search_finds_tickets_comments_and_articles_of_its_own_customer_only(stack, world) -> None:  # noqa: ANN001
    tag, made = world["tag"], world["made"]
    for name, other in (("acme", "blue"), ("blue", "acme")):
        mine, theirs = made[name], made[other]
        with api(stack, world[name]) as c:
            # A word of a comment finds the comment, which opens its ticket at the comment.
            answer = search(c, f"fuser{tag}")
            assert [h["id"] for h in hits(answer, "comment")] == [mine["comment"]["id"]]
            (hit,) = hits(answer, "comment")
            assert hit["parent_id"] == mine["ticket"]["id"]
            assert hit["url"] == f"/tickets/{mine['ticket']['id']}#comment-{mine['comment']['id']}"
            assert hit["title"] == f"#{mine['ticket']['number']} Scanner {name} {tag}"
            # A prefix finds the ticket; a number (with or without '#') puts that ticket first.
            assert [h["id"] for h in hits(search(c, f"scann {tag}"), "ticket")] == [mine["ticket"]["id"]]
            for q in (str(mine["ticket"]["number"]), f"#{mine['ticket']['number']}"):
                first = hits(search(c, q, kinds="ticket"), "ticket")[0]
                assert first["id"] == mine["ticket"]["id"] and first["url"] == f"/tickets/{mine['ticket']['id']}"
            # Never the other customer's ticket or comment, not by a word, not by its number; never a private note.
            seen = {
                h["id"] for q in (tag, f"fuser{tag}", f"#{theirs['ticket']['number']}") for h in every_hit(search(c, q))
            }
            assert not seen & {theirs["ticket"]["id"], theirs["comment"]["id"], made["note"]["id"]}
            # Articles by title, for every customer.
            found = hits(search(c, f"router {tag}"), "article")
            assert [(h["id"], h["url"]) for h in found] == [(world["article"]["id"], f"/kb/{world['article']['id']}")]


def test_search_groups_come_in_a_fixed_order_and_bad_input_is_a_400_problem(stack, world) -> None:  # noqa: ANN001
    with api(stack, world["acme"]) as c:
        answer = search(c, world["tag"])
        order = ["ticket", "comment", "invoice", "estimate", "payment", "asset", "document", "article"]
        kinds = [g["kind"] for g in answer["groups"]]
        assert kinds == [k for k in order if k in kinds] and {"ticket", "comment", "article"} <= set(kinds)
        assert answer["partial"] is bool(answer["unsearched"])
        assert [g["kind"] for g in search(c, world["tag"], kinds="comment,ticket")["groups"]] == ["ticket", "comment"]
        for params, field in (
            ({"q": ""}, "q"),
            ({"q": "   "}, "q"),
            ({"q": "x" * 201}, "q"),
            ({"q": "printer", "kinds": "tickets"}, "kinds"),
        ):
            r = c.get("/api/v1/search", params=params)
            assert r.status_code == 400, (params, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert field in r.json()["detail"], r.text
        # Query syntax of either index is just text.
        for q in ('"', "*", "OR", "NEAR(", "--", "'; DROP TABLE tickets; --"):
            assert c.get("/api/v1/search", params={"q": q}).status_code == 200
    with api(stack) as anonymous:
        assert anonymous.get("/api/v1/search", params={"q": "x"}).status_code == 401


def test_staff_search_spans_customers_names_them_and_filters_by_one(stack, world) -> None:  # noqa: ANN001
    tag, made = world["tag"], world["made"]
    with api(stack, world["staff"]) as s:
        answer = search(s, f"fuser{tag}", "/api/v1/staff/search")
        found = {h["id"]: h for h in hits(answer, "comment")}
        assert set(found) == {made["acme"]["comment"]["id"], made["blue"]["comment"]["id"], made["note"]["id"]}
        acme_hit = found[made["acme"]["comment"]["id"]]
        assert acme_hit["customer_name"] and acme_hit["customer_id"] == made["acme"]["customer_id"]
        assert acme_hit["url"].startswith(f"/staff/tickets/{made['acme']['ticket']['id']}#comment-")
        only = search(s, f"fuser{tag}", "/api/v1/staff/search", customer_id=made["blue"]["customer_id"])
        assert {h["id"] for h in every_hit(only)} == {made["blue"]["comment"]["id"]}
    with api(stack, world["acme"]) as c:
        assert c.get("/api/v1/staff/search", params={"q": "x"}).status_code == 403


def test_search_pages_and_the_header_box(stack, world) -> None:  # noqa: ANN001
    tag, made = world["tag"], world["made"]
    cookie = {"Cookie": f"portal_session={world['acme']}; lang=en"}
    with httpx.Client(base_url=stack.gateway_url, headers=cookie, timeout=15, follow_redirects=False) as p:
        home = p.get("/").text
        assert 'action="/search"' in home and 'for="header-search-q"' in home
        html = p.get("/search", params={"q": f"fuser{tag}"}).text
        assert f"/tickets/{made['acme']['ticket']['id']}#comment-{made['acme']['comment']['id']}" in html
        assert f'value="fuser{tag}"' in html  # the query stays in the boxes
        assert made["blue"]["ticket"]["id"] not in html
        assert "Nothing matches" in p.get("/search", params={"q": f"nothing{tag}"}).text
        bad = p.get("/search", params={"q": "x" * 300})
        assert bad.status_code == 400 and "Type between 1 and 200 characters" in bad.text
        fr = p.get(
            "/search", params={"q": f"fuser{tag}"}, headers={"Cookie": f"portal_session={world['acme']}; lang=fr"}
        )
        assert "Commentaires" in fr.text and "Rechercher" in fr.text
    staff_cookie = {"Cookie": f"staff_session={world['staff']}; lang=en"}
    with httpx.Client(base_url=stack.gateway_url, headers=staff_cookie, timeout=15, follow_redirects=False) as s:
        page = s.get("/staff/search", params={"q": f"fuser{tag}", "customer_id": made["blue"]["customer_id"]})
        assert page.status_code == 200, page.text[:300]
        assert f"/staff/tickets/{made['blue']['ticket']['id']}#comment-" in page.text
        assert made["acme"]["ticket"]["id"] not in page.text and 'action="/staff/search"' in page.text


def test_a_stopped_service_gives_a_partial_answer_that_says_so(stack, world) -> None:  # noqa: ANN001
    tag = world["tag"]
    tickets = stack.process("tickets")
    with api(stack, world["acme"]) as c:
        assert hits(search(c, f"fuser{tag}"), "comment"), "found while tickets answers"
        tickets.signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            r = c.get("/api/v1/search", params={"q": f"fuser{tag}"})
            took = time.monotonic() - started
            cookie = {"Cookie": f"portal_session={world['acme']}; lang=en"}
            page = c.get("/search", params={"q": f"fuser{tag}"}, headers=cookie)
        finally:
            tickets.signal(signal.SIGCONT)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["partial"] is True and "tickets" in answer["unsearched"]
        assert not hits(answer, "comment") and "comment" not in [g["kind"] for g in answer["groups"]]
        assert took < 5.0, f"the search waited {took:.1f}s for a stopped service (deadline 1.5 s)"
        assert page.status_code == 200 and "Tickets, comments and articles could not be searched just now" in page.text
        deadline = time.monotonic() + 10
        while not hits(search(c, f"fuser{tag}"), "comment"):
            assert time.monotonic() < deadline, "tickets answers again once it runs"
            time.sleep(0.2)


def test_billing_records_are_found_by_number_for_their_customer_only(stack, world) -> None:  # noqa: ANN001
    """Depends on B2 (billing's Search)."""
    tag, made = world["tag"], world["made"]
    created: dict[str, dict] = {}
    with api(stack, world["staff"]) as s:
        for name in ("acme", "blue"):
            cid = made[name]["customer_id"]
            line = [{"description": f"Toner {tag}", "quantity": "1", "unit_price_minor": 1_000}]
            key = {"Idempotency-Key": f"search-inv-{name}-{tag}-000000"}
            r = s.post("/api/v1/staff/invoices", json={"customer_id": cid, "lines": line}, headers=key)
            assert r.status_code == 201, r.text
            invoice = r.json()["invoice"]
            key = {"Idempotency-Key": f"search-est-{name}-{tag}-000000"}
            body = {"customer_id": cid, "name": f"Firewall {tag}", "lines": line}
            r = s.post("/api/v1/staff/estimates", json=body, headers=key)
            assert r.status_code == 201, r.text
            estimate = r.json()["estimate"]
            key = {"Idempotency-Key": f"search-pay-{name}-{tag}-000000"}
            body = {"method": "check", "reference": f"CHK{tag}{name}", "amount_minor": 100}
            r = s.post(f"/api/v1/staff/customers/{cid}/payments", json=body, headers=key)
            assert r.status_code == 201, r.text
            created[name] = {"invoice": invoice, "estimate": estimate, "payment": r.json()["payment"]}
    for name, other in (("acme", "blue"), ("blue", "acme")):
        with api(stack, world[name]) as c:
            invoice = created[name]["invoice"]
            first = hits(search(c, invoice["number"]), "invoice")[0]
            assert first["id"] == invoice["id"] and first["url"] == f"/billing/invoices/{invoice['id']}"
            theirs = {created[other][k]["id"] for k in ("invoice", "estimate", "payment")}
            for q in (created[other]["invoice"]["number"], f"firewall {tag}", f"CHK{tag}{other}", f"toner {tag}"):
                assert not {h["id"] for h in every_hit(search(c, q))} & theirs, q


def test_assets_and_documents_are_found_for_their_customer_only(stack, world) -> None:  # noqa: ANN001
    """Depends on B2 (assets' Search)."""
    tag, made = world["tag"], world["made"]
    created: dict[str, dict] = {}
    with api(stack, world["staff"]) as s:
        for name in ("acme", "blue"):
            cid = made[name]["customer_id"]
            body = {"name": f"Plotter {tag}", "serial_number": f"SN{tag}{name}"}
            r = s.post(f"/api/v1/staff/customers/{cid}/assets", json=body)
            assert r.status_code == 201, r.text
            created[name] = {"asset": r.json()}
    for name in ("acme", "blue"):
        with api(stack, world[name]) as c:
            r = c.post("/api/v1/documents", files={"file": (f"manual-{tag}.txt", b"manual\n", "text/plain")})
            assert r.status_code == 201, r.text
            created[name]["document"] = r.json()
    for name, other in (("acme", "blue"), ("blue", "acme")):
        with api(stack, world[name]) as c:
            asset = created[name]["asset"]
            found = hits(search(c, f"SN{tag}{name}"), "asset")
            assert found and found[0]["id"] == asset["id"] and found[0]["url"] == f"/assets/{asset['id']}"
            theirs = {created[other]["asset"]["id"], created[other]["document"]["id"]}
            for q in (f"SN{tag}{other}", f"plotter {tag}", f"manual {tag}"):
                assert not {h["id"] for h in every_hit(search(c, q))} & theirs, q


async def test_results_page_in_chromium_at_390_and_1280_in_english_and_french(stack, world, page) -> None:  # noqa: ANN001
    tag = world["tag"]
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    base = stack.gateway_url
    await page.context.add_cookies([{"name": "portal_session", "value": world["acme"], "url": base}])
    for lang, heading in (("en", "Comments"), ("fr", "Commentaires")):
        await page.context.add_cookies([{"name": "lang", "value": lang, "url": base}])
        for width in (390, 1280):
            await page.set_viewport_size({"width": width, "height": 900})
            await page.goto(base + "/")
            # The header's box, by its label, with Enter: a plain GET form.
            box = page.get_by_role("searchbox", name="Search for" if lang == "en" else "Rechercher").first
            await box.fill(f"fuser{tag}")
            await box.press("Enter")
            await page.wait_for_url("**/search?q=*")
            await page.get_by_role("heading", name=heading).wait_for()
            scroll = await page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"the results page scrolls sideways at {width}px ({scroll}px)"
            await page.screenshot(path=str(SHOTS / f"search-{lang}-{width}.png"), full_page=True)
