"""Portal pages over the fake backends: sign-in, CSRF, cookies, home sections, tickets, French."""

from __future__ import annotations

import re

import pytest

from gateway_tests.conftest import Gateway, csrf_from, free_port, running_gateway

pytestmark = pytest.mark.asyncio


async def test_sign_in_sets_a_secure_session_cookie(gw: Gateway) -> None:
    r = await gw.sign_in()
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("portal_session="))
    flags = [p.strip().lower() for p in cookie.split(";")]
    assert "httponly" in flags
    assert "secure" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert gw.world.last_client_address == "203.0.113.7"


async def test_wrong_password_is_a_form_message_not_an_error(gw: Gateway) -> None:
    r = await gw.sign_in(password="wrong")
    assert r.status_code == 401
    assert "do not match" in r.text
    assert 'value="alice@acme.test"' in r.text  # the login stays typed
    assert "portal_session=" not in r.headers.get("set-cookie", "")


async def test_empty_sign_in_fields_get_a_message(gw: Gateway) -> None:
    r = await gw.sign_in(login="", password="")
    assert r.status_code == 400
    assert "Enter your email or username and your password" in r.text


async def test_form_post_without_csrf_token_is_refused(gw: Gateway) -> None:
    await gw.client.get("/signin")
    r = await gw.client.post("/signin", data={"login": "alice@acme.test", "password": "correct horse"})
    assert r.status_code == 403
    assert "This form has expired" in r.text
    assert gw.world.calls.get("SignIn", 0) == 0

    await gw.sign_in()
    form = await gw.client.get("/tickets/new")
    assert form.status_code == 200
    data = {"subject": "x", "description": "y", "priority": "normal"}
    assert (await gw.client.post("/tickets/new", data=data)).status_code == 403
    forged = await gw.client.post("/tickets/new", data={**data, "csrf_token": "A" * 43})
    assert forged.status_code == 403
    assert gw.world.calls.get("CreateTicket", 0) == 0


async def test_home_shows_every_section_the_group_allows(gw: Gateway) -> None:
    await gw.sign_in()
    r = await gw.client.get("/")
    assert r.status_code == 200
    html = r.text
    assert "Northwind IT" in html and "Acme Dental Clinic" in html and "Alice Martin" in html
    for text in ("Open tickets", "Printer on 2nd floor jams", "#1002", "In progress", "1\u00a0Jan\u00a02025 10:00"):
        assert text in html
    for text in ("Open invoices", "INV-2041", "$1,234.50", "$234.50", "99.00\u00a0EUR" if False else "€"):
        assert text in html
    for text in ("Assets", "Reception PC", "SN-77A1", "Printer"):
        assert text in html
    assert "Recent script runs" in html
    assert 'href="/tickets/tkt-1"' in html
    assert "Globex" not in html
    assert 'href="/tickets/new"' in html


async def test_home_script_runs_section_shows_its_empty_state(gw: Gateway) -> None:
    """What a user sees today: nothing in the product creates script runs yet, remote answers none, and the
    section says so. The populated section is tested once runs can be created through the product (issue 14)."""
    await gw.sign_in()
    html = (await gw.client.get("/")).text
    runs = html.split('id="runs-heading"', 1)[1].split("</section>", 1)[0]
    assert "Recent script runs" in runs and "No scripts have been run yet." in runs and "<table" not in runs
    assert gw.world.calls["ListScriptRuns"] == 1


async def test_home_attachments_section_lists_documents_then_view_all(gw: Gateway) -> None:
    await gw.sign_in()
    html = (await gw.client.get("/")).text
    section = html.split('id="attachments-heading"', 1)[1].split("</section>", 1)[0]
    assert "Network diagram.pdf" in section and "47 KB" in section
    assert 'href="/documents/00000000-0000-4000-8000-00000000d0c1/download"' in section
    assert 'href="/documents"' in section
    # One call for the Attachments section, one for the Recent documents widget (newest first).
    assert gw.world.calls["ListDocuments"] == 2


async def test_home_hides_sections_the_group_does_not_allow(gw: Gateway) -> None:
    await gw.sign_in("bob@acme.test")
    calls_before = dict(gw.world.calls)
    html = (await gw.client.get("/")).text
    assert "Open tickets" in html
    for hidden in ("Open invoices", "Assets", "Recent script runs", 'href="/tickets/new"', "Attachments"):
        assert hidden not in html
    for rpc in ("GetPortalSummary", "ListAssets", "ListScriptRuns", "ListDocuments"):
        assert gw.world.calls.get(rpc, 0) == calls_before.get(rpc, 0), f"{rpc} should not be called"
    assert (await gw.client.get("/tickets/new")).status_code == 403


async def test_a_backend_that_is_down_shows_unavailable_in_its_section(backends) -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with running_gateway(backends, billing_addr=dead) as g:
        await g.sign_in()
        r = await g.client.get("/")
    assert r.status_code == 200
    for heading in ("overview-heading", "open-heading", "payments-heading", "estimates-heading"):
        section = r.text.split(f'id="{heading}"', 1)[1].split("</section>", 1)[0]
        assert "temporarily unavailable" in section, heading
    assert "Printer on 2nd floor jams" in r.text and "Reception PC" in r.text


async def test_empty_sections_have_a_friendly_message(gw: Gateway) -> None:
    await gw.sign_in("carol@globex.test")
    html = (await gw.client.get("/")).text
    assert "Globex mail server down" in html
    assert "No open invoices. Thank you!" in html
    assert "No assets are registered" in html


async def test_create_ticket_form_errors_keep_typed_values(gw: Gateway) -> None:
    await gw.sign_in()
    form = (await gw.client.get("/tickets/new")).text
    data = {
        "csrf_token": csrf_from(form),
        "idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1),
        "subject": "   ",
        "description": "The <b>scanner</b> is slow",
        "priority": "high",
    }
    r = await gw.client.post("/tickets/new", data=data)
    assert r.status_code == 400
    assert 'id="subject-error"' in r.text and "Enter a subject." in r.text
    assert "The &lt;b&gt;scanner&lt;/b&gt; is slow" in r.text
    assert '<option value="high" selected>' in r.text
    assert gw.world.calls.get("CreateTicket", 0) == 0


async def test_double_submit_creates_one_ticket_and_shows_it(gw: Gateway) -> None:
    await gw.sign_in()
    form = (await gw.client.get("/tickets/new")).text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)
    data = {
        "csrf_token": csrf_from(form),
        "idempotency_key": key,
        "subject": "Scanner is slow",
        "description": "Since Monday.",
        "priority": "high",
    }
    first = await gw.client.post("/tickets/new", data=data)
    second = await gw.client.post("/tickets/new", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert sum(t.subject == "Scanner is slow" for t in gw.world.tickets) == 1
    page = await gw.client.get(first.headers["location"])
    assert page.status_code == 200
    assert "Scanner is slow" in page.text and "Since Monday." in page.text and "High" in page.text


async def test_backend_field_errors_land_next_to_the_field(gw: Gateway) -> None:
    await gw.sign_in()
    form = (await gw.client.get("/tickets/new")).text
    gw.world.tickets.clear()
    data = {
        "csrf_token": csrf_from(form),
        "subject": "ok",
        "description": "ok",
        "priority": "urgent",
        "idempotency_key": "k" * 20,
    }
    # The fake accepts "urgent"; a bogus priority is stopped by the gateway before any call.
    data["priority"] = "bogus"
    r = await gw.client.post("/tickets/new", data=data)
    assert r.status_code == 400 and 'id="priority-error"' in r.text


async def test_another_customers_ticket_is_a_404_page(gw: Gateway) -> None:
    await gw.sign_in()
    r = await gw.client.get("/tickets/tkt-3")
    assert r.status_code == 404
    assert "Page not found" in r.text
    assert "Globex mail server down" not in r.text


async def test_pages_redirect_to_sign_in_when_signed_out(gw: Gateway) -> None:
    r = await gw.client.get("/tickets/new")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/tickets/new"
    r = await gw.client.get("/", headers={"Cookie": "portal_session=st-forged"})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert "portal_session=" in r.headers["set-cookie"]  # the dead cookie is cleared
    assert gw.world.calls["ResolveSession"] == 1


async def test_sign_out_ends_the_session(gw: Gateway) -> None:
    await gw.sign_in()
    home = await gw.client.get("/")
    r = await gw.client.post("/signout", data={"csrf_token": csrf_from(home.text)})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert gw.world.calls["SignOut"] == 1
    assert 'portal_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert not gw.world.sessions
    assert (await gw.client.get("/")).status_code == 303


async def test_sign_in_page_speaks_french(gw: Gateway) -> None:
    r = await gw.client.get("/signin", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in r.text
    assert "Connexion à votre portail" in r.text and "Mot de passe" in r.text
    assert 'href="/lang/en?next=/signin"' in r.text

    switch = await gw.client.get("/lang/en?next=/signin")
    assert switch.status_code == 303 and switch.headers["location"] == "/signin"
    r = await gw.client.get("/signin", headers={"Accept-Language": "fr"})
    assert "Sign in to your portal" in r.text  # the cookie wins over the header


async def test_french_home_formats_money_and_dates(gw: Gateway) -> None:
    await gw.client.get("/lang/fr")
    await gw.sign_in()
    html = (await gw.client.get("/")).text
    assert "1\u202f234,50\u00a0$US" in html  # Babel: the French write US dollars "$US"
    assert "Factures ouvertes" in html and "Aperçu du compte" in html and "janv." in html


async def test_open_redirects_are_refused(gw: Gateway) -> None:
    page = await gw.client.get("/signin")
    r = await gw.client.post(
        "/signin",
        data={
            "login": "alice@acme.test",
            "password": "correct horse",
            "csrf_token": csrf_from(page.text),
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/"
    assert (await gw.client.get("/lang/fr?next=https://evil.example")).headers["location"] == "/"


async def test_too_large_form_is_a_413_page(gw: Gateway) -> None:
    await gw.sign_in()
    r = await gw.client.post("/tickets/new", data={"description": "x" * (3 * 1024 * 1024)})
    assert r.status_code == 413
    assert "text/html" in r.headers["content-type"]


async def test_a_one_megabyte_subject_is_a_form_message(gw: Gateway) -> None:
    await gw.sign_in()
    form = (await gw.client.get("/tickets/new")).text
    data = {"csrf_token": csrf_from(form), "subject": "s" * (1024 * 1024), "description": "d", "priority": "normal"}
    r = await gw.client.post("/tickets/new", data=data)
    assert r.status_code == 400
    assert "Keep the subject under 200 characters." in r.text
    assert len(r.text) < 20_000  # the typed value is kept, cut to what the field accepts
    assert gw.world.calls.get("CreateTicket", 0) == 0


async def test_a_404_page_keeps_the_signed_in_header(gw: Gateway) -> None:
    """A path no route knows (and a page's own 404) is shown with the session's header: who is signed in,
    the portal's links and Sign out; signed out, or with a dead cookie, the same page has none of them."""
    signed_out = await gw.client.get("/no-such-page")
    assert signed_out.status_code == 404 and "Page not found" in signed_out.text
    assert "Sign out" not in signed_out.text and 'href="/account/password"' not in signed_out.text
    await gw.sign_in()
    for path in ("/no-such-page", "/tickets/tkt-3", "/billing/nothing/here"):
        r = await gw.client.get(path)
        assert r.status_code == 404 and "Page not found" in r.text, path
        assert "Sign out" in r.text and 'href="/account/password"' in r.text, path
        assert 'class="user"' in r.text, path
    dead = await gw.client.get("/no-such-page", headers={"Cookie": "portal_session=st-forged"})
    assert dead.status_code == 404 and "Sign out" not in dead.text
