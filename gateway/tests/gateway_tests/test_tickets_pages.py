"""Ticket pages against the fake backends: what the list offers per permission, the ticket page's title, CSV
safety, the live feed's filter (public comments of the watched ticket only)."""

from __future__ import annotations

import asyncio
import csv
import io
import re

from gateway.clients.ticket_events import TicketFeed
from gateway_tests.conftest import Gateway
from portal.tickets.v1 import events_pb2, tickets_pb2
from servicekit import i18n


async def test_status_filters_and_scope_only_with_their_permissions(gw: Gateway) -> None:
    await gw.sign_in()
    html = (await gw.client.get("/tickets")).text
    assert "Status is not" in html and 'name="scope"' in html and "Printer on 2nd floor jams" in html
    await gw.client.post("/signout", data={"csrf_token": ""})
    gw.client.cookies.clear()
    await gw.sign_in("bob@acme.test")
    html = (await gw.client.get("/tickets")).text
    assert "Status is not" not in html and 'name="scope"' not in html


async def test_the_ticket_page_title_is_plain_text(gw: Gateway) -> None:
    """The tab shows the ticket's number and subject; the live-update script sits in the head, not in <title>."""
    await gw.sign_in()
    html = (await gw.client.get("/tickets/tkt-1")).text
    title = re.search(r"<title>(.*?)</title>", html, re.DOTALL)
    assert title is not None and "<" not in title.group(1) and title.group(1).startswith("#")
    head = html.split("</head>", 1)[0]
    assert '<script src="/static/tickets-live.js" defer></script>' in head


async def test_csv_neutralises_formulas(gw: Gateway) -> None:
    gw.world.tickets.append(
        tickets_pb2.Ticket(
            id="tkt-evil", number=1999, customer_id="cus-a", subject='=HYPERLINK("http://x","y")', status="open"
        )
    )
    await gw.sign_in()
    r = await gw.client.get("/tickets.csv")
    assert r.status_code == 200 and r.headers["content-disposition"] == 'attachment; filename="tickets.csv"'
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["Number", "Subject"]
    subjects = {row[1] for row in rows[1:]}
    assert '\'=HYPERLINK("http://x","y")' in subjects and "Globex mail server down" not in subjects


async def test_french_csv_uses_semicolons_french_headers_and_local_times(gw: Gateway, monkeypatch) -> None:  # noqa: ANN001
    """SPEC H5: a French spreadsheet splits on `;` (the comma is its decimal separator); the headers are French; the
    times are in the operator's time zone (PORTAL_TIMEZONE) with their offset."""
    monkeypatch.setenv(i18n.TIMEZONE_ENV, "Europe/Paris")
    i18n.operator_zone.cache_clear()
    try:
        await gw.client.get("/lang/fr")
        await gw.sign_in()
        r = await gw.client.get("/tickets.csv")
    finally:
        monkeypatch.delenv(i18n.TIMEZONE_ENV)
        i18n.operator_zone.cache_clear()
    text = r.content.decode("utf-8-sig")
    header = text.splitlines()[0]
    assert header.startswith("Numéro;Objet;") and "," not in header, header
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert all(len(row) == len(rows[0]) for row in rows) and len(rows) > 1
    # 2025-01-01 10:00 UTC is 11:00 in Paris.
    assert any(row[6] == "2025-01-01T11:00:00+01:00" for row in rows[1:]), rows[1]


async def test_live_feed_delivers_public_comments_of_the_watched_ticket_only() -> None:
    feed = TicketFeed("nats://unused")

    def event(ticket: str, public: bool) -> events_pb2.TicketCommented:
        return events_pb2.TicketCommented(ticket_id=ticket, is_public=public, body="x" if public else "")

    class Msg:
        def __init__(self, e: events_pb2.TicketCommented) -> None:
            self.data = e.SerializeToString()

    with feed.listen("t-1") as queue:
        for e in (event("t-1", False), event("t-2", True), event("t-1", True)):
            await feed._on_message(Msg(e))
        got = await asyncio.wait_for(queue.get(), 1)
        assert (got.ticket_id, got.is_public) == ("t-1", True)
        assert queue.empty()
    assert "t-1" not in feed._listeners


async def test_a_pages_times_are_in_the_operators_time_zone(gw: Gateway, monkeypatch) -> None:  # noqa: ANN001
    """SPEC H5: PORTAL_TIMEZONE=Europe/Paris shows 2025-01-01 10:00 UTC as 11:00 CET, not UTC."""
    await gw.sign_in()
    before = (await gw.client.get("/tickets/tkt-1")).text
    assert "1\u00a0Jan\u00a02025 10:00\u00a0UTC" in before
    monkeypatch.setenv(i18n.TIMEZONE_ENV, "Europe/Paris")
    i18n.operator_zone.cache_clear()
    try:
        html = (await gw.client.get("/tickets/tkt-1")).text
    finally:
        monkeypatch.delenv(i18n.TIMEZONE_ENV)
        i18n.operator_zone.cache_clear()
    assert "1\u00a0Jan\u00a02025 11:00\u00a0CET" in html and "10:00\u00a0UTC" not in html
