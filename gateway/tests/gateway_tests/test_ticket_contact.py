"""The open tickets' contact and issue type (SPEC T1) on the home and the ticket list, the invoiced marker's icon,
the contact in the CSV and the JSON, and the staff API's contact check, against the fake backends."""

from __future__ import annotations

import csv
import io
import re

from gateway_tests.conftest import CUSTOMER_A, Gateway
from portal.tickets.v1 import tickets_pb2


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tickets_table(html: str) -> str:
    return html.split('<table class="ticket-table">', 1)[1].split("</table>", 1)[0]


def rows(table: str) -> list[list[str]]:
    """Each body row's cells as visible text (tags dropped, spaces tidied)."""
    body = table.split("<tbody>", 1)[1]
    return [
        [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def headers(table: str) -> list[str]:
    return re.findall(r'<th scope="col">([^<]*)</th>', table)


async def test_home_open_tickets_show_contact_and_issue_type_with_one_tickets_call_per_section(gw: Gateway) -> None:
    gw.world.tickets[0].invoice_number = "INV-1001"
    await gw.sign_in()
    before = dict(gw.world.calls)
    html = (await gw.client.get("/")).text
    # One call per section (open tickets, and the Recent tickets widget of every status): the contact comes with the
    # ticket, identity is never asked per row.
    assert gw.world.calls["ListTickets"] == before.get("ListTickets", 0) + 2
    assert gw.world.calls.get("ListContacts", 0) == 0
    table = tickets_table(html)
    assert headers(table) == ["Number", "Contact", "Subject", "Created", "Last updated", "Issue type", "Status"]
    got = rows(table)
    assert [r[:3] for r in got] == [
        ["#1002", "— No contact", "VPN drops every hour"],
        ["#1001", "Alice Martin", "Printer on 2nd floor jams"],
    ]
    assert [r[5:] for r in got] == [["Network", "In progress"], ["Hardware", "Open Invoiced INV-1001"]]
    # The dash is decoration; a screen reader hears "No contact".
    assert '<span aria-hidden="true">—</span><span class="visually-hidden">No contact</span>' in table
    # Every cell carries its column's name for the narrow layout.
    assert 'data-label="Contact">Alice Martin</td>' in table and 'data-label="Issue type">Hardware</td>' in table


async def test_the_invoiced_marker_is_a_cart_icon_beside_its_text(gw: Gateway) -> None:
    gw.world.tickets[0].invoice_number = "INV-1001"
    await gw.sign_in()
    for path in ("/", "/tickets", "/tickets/tkt-1"):
        html = (await gw.client.get(path)).text
        badge = re.search(r'<span class="badge invoiced">(.*?)</span>', html, re.S)
        assert badge, path
        icon, text = badge.group(1).split("</svg>")
        assert icon.startswith("<svg") and 'aria-hidden="true"' in icon and 'focusable="false"' in icon
        assert text == "Invoiced INV-1001", path
    assert "Invoiced" not in (await gw.client.get("/tickets/tkt-2")).text


async def test_french_home_and_list_name_the_new_columns(gw: Gateway) -> None:
    await gw.sign_in()
    fr = {"Accept-Language": "fr"}
    home = tickets_table((await gw.client.get("/", headers=fr)).text)
    assert headers(home) == ["Numéro", "Contact", "Objet", "Créé le", "Mis à jour le", "Type de demande", "Statut"]
    assert "Aucun contact" in home
    listed = tickets_table((await gw.client.get("/tickets", headers=fr)).text)
    assert headers(listed)[:3] == ["Numéro", "Contact", "Objet"] and "Type de demande" in headers(listed)


async def test_ticket_list_shows_the_contact(gw: Gateway) -> None:
    await gw.sign_in()
    table = tickets_table((await gw.client.get("/tickets")).text)
    assert headers(table) == [
        "Number",
        "Contact",
        "Subject",
        "Status",
        "Priority",
        "Issue type",
        "Created",
        "Last updated",
    ]
    assert [(r[0], r[1], r[5]) for r in rows(table)] == [
        ("#1002", "— No contact", "Network"),
        ("#1001", "Alice Martin", "Hardware"),
    ]
    page = (await gw.client.get("/tickets/tkt-1")).text
    assert "<dt>Contact</dt><dd>Alice Martin</dd>" in page
    assert "<dt>Contact</dt>" not in (await gw.client.get("/tickets/tkt-2")).text


async def test_csv_has_the_contact(gw: Gateway) -> None:
    gw.world.tickets.append(
        tickets_pb2.Ticket(id="tkt-evil", number=1999, customer_id=CUSTOMER_A, contact_name="=cmd|x", status="open")
    )
    await gw.sign_in()
    r = await gw.client.get("/tickets.csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["Number", "Subject", "Contact"]
    contacts = {row[0]: row[2] for row in table[1:]}
    assert contacts == {"1999": "'=cmd|x", "1002": "", "1001": "Alice Martin"}


async def test_json_tickets_carry_the_contact_name_and_the_description_says_so(gw: Gateway) -> None:
    token = await gw.api_token()
    items = (await gw.client.get("/api/v1/tickets", headers=auth(token))).json()["items"]
    assert {t["number"]: t["contact_name"] for t in items} == {1002: "", 1001: "Alice Martin"}
    made = await gw.client.post(
        "/api/v1/tickets", json={"subject": "Scanner", "description": "Offline"}, headers=auth(token)
    )
    assert made.status_code == 201 and made.json()["contact_name"] == "Alice Martin"
    spec = (await gw.client.get("/api/v1/openapi.json")).json()
    prop = spec["components"]["schemas"]["Ticket"]["properties"]["contact_name"]
    assert "contact" in prop["description"]


async def staff_token(gw: Gateway) -> str:
    r = await gw.client.post(
        "/api/v1/staff/sessions", json={"login": "tech@northwind.test", "password": "correct horse"}
    )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


async def test_staff_api_keeps_the_contacts_name_and_refuses_another_customers_contact(gw: Gateway) -> None:
    headers = auth(await staff_token(gw))
    body = {"customer_id": CUSTOMER_A, "subject": "Staff probe", "description": "d"}
    r = await gw.client.post("/api/v1/staff/tickets", json={**body, "contact_id": "ctc-bob"}, headers=headers)
    assert r.status_code == 201, r.text
    made = r.json()["ticket"]
    assert (made["customer_id"], made["contact_id"], made["contact_name"]) == (CUSTOMER_A, "ctc-bob", "Bob Stone")

    created = gw.world.calls["CreateTicket"]
    for contact_id in ("ctc-carol", "nobody"):  # Globex's contact, an unknown one
        r = await gw.client.post("/api/v1/staff/tickets", json={**body, "contact_id": contact_id}, headers=headers)
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json()["errors"] == [{"field": "contact_id", "message": "not a contact of this customer"}]
    r = await gw.client.post(
        "/api/v1/staff/tickets", json={**body, "customer_id": "cus-zz", "contact_id": "ctc-bob"}, headers=headers
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "customer_id", r.text
    assert gw.world.calls["CreateTicket"] == created  # nothing reached the tickets service

    # A contact-name is the gateway's to fill: a client cannot send one.
    r = await gw.client.post(
        "/api/v1/staff/tickets", json={**body, "contact_id": "ctc-bob", "contact_name": "Forged"}, headers=headers
    )
    assert r.status_code == 400
    # Without a contact, identity is not asked for one.
    contacts = gw.world.calls.get("ListContacts", 0)
    r = await gw.client.post("/api/v1/staff/tickets", json=body, headers=headers)
    assert r.status_code == 201 and r.json()["ticket"]["contact_name"] == ""
    assert gw.world.calls.get("ListContacts", 0) == contacts
