"""The minimal staff console: its own sign-in (audience STAFF), cookie and ticket list."""

from __future__ import annotations

import pytest

from gateway_tests.conftest import Gateway, csrf_from

pytestmark = pytest.mark.asyncio


async def staff_sign_in(gw: Gateway, login: str = "tech@northwind.test"):  # noqa: ANN201
    page = await gw.client.get("/staff/signin")
    assert "Staff sign-in" in page.text
    return await gw.client.post(
        "/staff/signin", data={"login": login, "password": "correct horse", "csrf_token": csrf_from(page.text)}
    )


async def test_staff_see_the_newest_tickets_of_every_customer(gw: Gateway) -> None:
    r = await staff_sign_in(gw)
    assert r.status_code == 303 and r.headers["location"] == "/staff"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("staff_session=") and "Path=/staff" in cookie and "HttpOnly" in cookie
    html = (await gw.client.get("/staff")).text
    assert "Newest tickets, all customers" in html
    assert "Globex mail server down" in html and "Printer on 2nd floor jams" in html
    assert "Globex Corporation" in html and "Acme Dental Clinic" in html
    assert 'action="/staff/signout"' in html
    # The staff session is not a portal session.
    assert (await gw.client.get("/")).headers["location"] == "/signin"

    out = await gw.client.post("/staff/signout", data={"csrf_token": csrf_from(html)})
    assert out.headers["location"] == "/staff/signin"
    assert (await gw.client.get("/staff")).headers["location"] == "/staff/signin"


async def test_portal_users_cannot_use_the_staff_console(gw: Gateway) -> None:
    r = await staff_sign_in(gw, "alice@acme.test")
    assert r.status_code == 401 and "do not match" in r.text
    await gw.sign_in()
    assert (await gw.client.get("/staff")).headers["location"] == "/staff/signin"
