"""Issue 12, customers in the staff console: the list searches names and emails and shows C4 badges; a customer's
page shows its details, every C3 setting, contacts, open tickets and the internal warning, and links its billing
tab; Archive and Re-enable go through a confirmation page and sign its portal users out; Delete is offered only
when no service holds its data. A portal session gets none of these pages. Screenshots at 390/1280 px, en/fr."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

import httpx

from tests.e2e.helpers import ACME, api, api_sign_in, wait_for_mails

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


def _staff_token(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def _pages(stack, token: str, cookie: str = "staff_session") -> httpx.Client:  # noqa: ANN001
    return httpx.Client(base_url=stack.gateway_url, headers={"Cookie": f"{cookie}={token}"}, timeout=15)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _make(stack, token: str, suffix: str) -> tuple[dict, dict]:  # noqa: ANN001
    """A customer with a badge, settings, a contact and its own portal user; and a plain customer to delete."""
    with api(stack, token) as c:
        kind = c.post(
            "/api/v1/staff/custom-fields",
            json={
                "name": f"Tier {suffix}",
                "type": "dropdown",
                "options": [{"value": "Gold", "badge": {"label": "GOLD", "color": "#b8860b"}}],
            },
        ).json()
        r = c.post(
            "/api/v1/staff/customers",
            json={
                "business_name": f"Lighthouse Clinic {suffix}",
                "email": f"front-{suffix}@lighthouse.test",
                "phones": [{"type": "work", "number": "+1 555 0199"}],
                "addresses": [{"type": "billing", "line1": "9 Quay St", "city": "Portsmouth"}],
                "settings": {
                    "notification_emails": [f"ops-{suffix}@lighthouse.test"],
                    "internal_ticket_warning": f"Ring the night bell {suffix}",
                    "invoice_terms_days": 21,
                },
                "custom_fields": [{"field_id": kind["id"], "value": "Gold"}],
                "portal_access": {"enabled": True},
                "idempotency_key": f"lighthouse-{suffix}",
            },
        )
        assert r.status_code == 201, r.text
        warned = r.json()
        r = c.post(
            f"/api/v1/staff/customers/{warned['id']}/contacts",
            json={"name": "Nora Night", "email": f"nora-{suffix}@lighthouse.test", "title": "Office manager"},
        )
        assert r.status_code == 201, r.text
        plain = c.post(
            "/api/v1/staff/customers",
            json={"business_name": f"Empty Shell {suffix}", "email": f"shell-{suffix}@shell.test"},
        ).json()
        made = c.post(
            "/api/v1/staff/tickets",
            json={"customer_id": warned["id"], "subject": f"Fridge alarm {suffix}", "description": "Beeping."},
        )
        assert made.status_code == 201, made.text
    return warned, plain


def test_staff_find_read_archive_and_delete_customers_in_the_console(stack) -> None:  # noqa: ANN001
    suffix = secrets.token_hex(3)
    token = _staff_token(stack)
    warned, plain = _make(stack, token, suffix)
    with _pages(stack, token) as c:
        listing = c.get("/staff/customers", params={"q": f"lighthouse {suffix}"})
        assert listing.status_code == 200
        assert f"Lighthouse Clinic {suffix}" in listing.text and "Empty Shell" not in listing.text
        assert "GOLD" in listing.text and 'fill="#b8860b"' in listing.text
        assert "Acme Dental" not in listing.text
        nothing = c.get("/staff/customers", params={"q": f"no such {suffix}"})
        assert "No customers match." in nothing.text

        page = c.get(f"/staff/customers/{warned['id']}").text
        for expected in (
            "GOLD",
            "+1 555 0199",
            "9 Quay St, Portsmouth",
            f"ops-{suffix}@lighthouse.test",
            "21 days",
            f"Ring the night bell {suffix}",
            "Nora Night",
            f"Fridge alarm {suffix}",
            f'href="/staff/customers/{warned["id"]}/billing"',
        ):
            assert expected in page, expected

        # Archive, through its confirmation page; the customer's own portal user is then refused.
        confirm = c.get(f"/staff/customers/{warned['id']}/archive")
        assert "Archive this customer?" in confirm.text
        r = c.post(
            f"/staff/customers/{warned['id']}/archive", data={"csrf_token": _csrf(confirm.text), "archived": "1"}
        )
        assert r.status_code == 303 and r.headers["location"].endswith("?done=archived")
        assert "This customer is archived" in c.get(f"/staff/customers/{warned['id']}").text
        r = c.post(
            f"/staff/customers/{warned['id']}/archive", data={"csrf_token": _csrf(confirm.text), "archived": "0"}
        )
        assert (
            r.status_code == 303 and "This customer is archived" not in c.get(f"/staff/customers/{warned['id']}").text
        )
        # A form without the CSRF token changes nothing.
        r = c.post(f"/staff/customers/{warned['id']}/archive", data={"archived": "1"})
        assert r.status_code == 403
        assert "This customer is archived" not in c.get(f"/staff/customers/{warned['id']}").text

        # Delete: refused with a reason for a customer whose tickets exist; offered and done for an empty one.
        held = c.get(f"/staff/customers/{warned['id']}/delete").text
        assert "cannot be deleted" in held and "Delete for good" not in held
        offered = c.get(f"/staff/customers/{plain['id']}/delete").text
        assert "Delete for good" in offered
        r = c.post(f"/staff/customers/{plain['id']}/delete", data={"csrf_token": _csrf(offered)})
        assert r.status_code == 303 and r.headers["location"] == "/staff/customers?done=deleted"
        assert c.get(f"/staff/customers/{plain['id']}").status_code == 404
        assert c.get("/staff/customers/not-a-customer").status_code == 404


def test_a_portal_session_gets_no_staff_customer_page(stack) -> None:  # noqa: ANN001
    token = api_sign_in(stack, ACME.login, ACME.password)
    with _pages(stack, token) as c:  # a portal token in the staff cookie: identity resolves it as a portal user
        for path in (
            "/staff/customers",
            "/staff/customers/x",
            "/staff/customers/x/archive",
            "/staff/customers/x/delete",
        ):
            r = c.get(path, follow_redirects=False)
            assert r.status_code in (303, 403), (path, r.status_code)
            assert "Blue Harbor" not in r.text, "no other customer's name on the refusal"


async def test_customer_pages_at_two_widths_in_two_languages(stack, browser) -> None:  # noqa: ANN001
    suffix = secrets.token_hex(3)
    token = await asyncio.to_thread(_staff_token, stack)
    warned, _ = await asyncio.to_thread(_make, stack, token, suffix)
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    base = stack.gateway_url
    for lang in ("en", "fr"):
        for width in (390, 1280):
            context = await browser.new_context(viewport={"width": width, "height": 900})
            await context.add_cookies(
                [
                    {"name": "staff_session", "value": token, "url": base + "/staff"},
                    {"name": "lang", "value": lang, "url": base},
                ]
            )
            page = await context.new_page()
            paths = {
                "customers": "/staff/customers",
                "customer": f"/staff/customers/{warned['id']}",
                "links": f"/staff/customers/{warned['id']}/secure-links",
            }
            for name, path in paths.items():
                response = await page.goto(base + path)
                assert response is not None and response.status == 200
                await page.screenshot(path=str(SHOTS / f"staff-{name}-{lang}-{width}.png"), full_page=True)
            await context.close()


def test_staff_add_and_manage_a_customers_portal_users_on_its_page(stack) -> None:  # noqa: ANN001
    suffix = secrets.token_hex(3)
    token = _staff_token(stack)
    warned, _ = _make(stack, token, suffix)
    new_email = f"desk-{suffix}@lighthouse.test"
    with _pages(stack, token) as c:
        page = c.get(f"/staff/customers/{warned['id']}").text
        assert "Portal users" in page and f"front-{suffix}@lighthouse.test" in page  # its own user (portal access on)
        csrf = _csrf(page)
        base = {"csrf_token": csrf, "customer_id": warned["id"]}
        r = c.post(
            f"/staff/customers/{warned['id']}/portal-users",
            data={**base, "email": new_email, "contact_id": "", "group_name": "Non-Portal User Group"},
        )
        assert r.status_code == 303 and r.headers["location"].endswith("?done=user_added#portal-users"), r.text
        invitation = wait_for_mails(stack, lambda m: new_email in m["rcpt_to"], 1)
        assert "invitation" in invitation[0]["text"].lower() or "password" in invitation[0]["text"].lower()
        # The same email again: identity's reason on the page, nothing made.
        r = c.post(
            f"/staff/customers/{warned['id']}/portal-users",
            data={**base, "email": new_email, "contact_id": "", "group_name": "Non-Portal User Group"},
        )
        assert r.status_code == 409 and 'id="error"' in r.text
    with api(stack, token) as s:
        listed = {u["login"]: u for u in s.get(f"/api/v1/staff/customers/{warned['id']}/portal-users").json()}
    user = listed[new_email]
    assert (user["group_name"], user["invitation_pending"], user["require_mfa"]) == (
        "Non-Portal User Group",
        True,
        False,
    )
    with _pages(stack, token) as c:
        r = c.post(f"/staff/portal-users/{user['id']}/group", data={**base, "group_name": "Admin Portal Group"})
        assert r.status_code == 303 and "done=group_changed" in r.headers["location"]
        r = c.post(f"/staff/portal-users/{user['id']}/require-mfa", data={**base, "require_mfa": "1"})
        assert r.status_code == 303 and "done=mfa_required" in r.headers["location"]
        before = len(wait_for_mails(stack, lambda m: new_email in m["rcpt_to"], 1))
        r = c.post(f"/staff/portal-users/{user['id']}/invitation", data=base)
        assert r.status_code == 303 and "done=invited" in r.headers["location"]
        assert len(wait_for_mails(stack, lambda m: new_email in m["rcpt_to"], before + 1)) == before + 1
        # A customer id from the form only ever becomes a path of ours, quoted.
        r = c.post(
            f"/staff/portal-users/{user['id']}/require-mfa",
            data={**base, "customer_id": "../../x?y", "require_mfa": "0"},
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/customers/..%2F..%2Fx%3Fy?")
    with api(stack, token) as s:
        after = {u["login"]: u for u in s.get(f"/api/v1/staff/customers/{warned['id']}/portal-users").json()}[new_email]
    assert (after["group_name"], after["require_mfa"]) == ("Admin Portal Group", False)


def test_staff_make_see_and_revoke_a_customers_secure_link_in_the_console(stack) -> None:  # noqa: ANN001
    suffix = secrets.token_hex(3)
    token = _staff_token(stack)
    warned, plain = _make(stack, token, suffix)
    with api(stack, token) as s:
        other_ticket = s.post(
            "/api/v1/staff/tickets", json={"customer_id": plain["id"], "subject": "Not theirs", "description": "d"}
        ).json()["ticket"]["id"]
    with _pages(stack, token) as c:
        page = c.get(f"/staff/customers/{warned['id']}/secure-links").text
        assert "No links yet." in page and f"Fridge alarm {suffix}" in page  # its open ticket is offered
        csrf = _csrf(page)
        # Another customer's ticket: refused on the page, nothing made.
        r = c.post(
            f"/staff/customers/{warned['id']}/secure-links",
            data={"csrf_token": csrf, "ticket_id": other_ticket, "days": "7"},
        )
        assert r.status_code == 400 and "no such ticket for this customer" in r.text
        r = c.post(f"/staff/customers/{warned['id']}/secure-links", data={"csrf_token": csrf, "days": "900"})
        assert r.status_code == 400 and "from 1 to 90" in r.text
        r = c.post(f"/staff/customers/{warned['id']}/secure-links", data={"csrf_token": csrf, "days": "3"})
        assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
        url = re.search(r'id="new-link" type="text" readonly value="([^"]+)"', r.text).group(1)
        link_token = url.split("token=", 1)[1]
        listing = c.get(f"/staff/customers/{warned['id']}/secure-links").text
        assert "The whole customer" in listing and "Active" in listing and link_token not in listing
        link_id = re.search(r"/staff/secure-links/([0-9a-f-]+)/uses", listing).group(1)
    # The customer's visitor opens it, once recorded.
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as visitor:
        assert visitor.get("/link", params={"token": link_token}).status_code == 303
    with _pages(stack, token) as c:
        uses = c.get(f"/staff/secure-links/{link_id}/uses", params={"customer": warned["id"]}).text
        assert "Opened" in uses and link_token not in uses
        confirm = c.get(f"/staff/secure-links/{link_id}/revoke", params={"customer": warned["id"]}).text
        assert "Revoke this link?" in confirm
        r = c.post(f"/staff/secure-links/{link_id}/revoke", data={"csrf_token": _csrf(confirm)})
        assert r.status_code == 303 and r.headers["location"].endswith("/secure-links?done=revoked")
        assert "Revoked" in c.get(f"/staff/customers/{warned['id']}/secure-links").text
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as visitor:
        refused = visitor.get("/link", params={"token": link_token})
        assert refused.status_code != 303 and "portal_session" not in refused.cookies
