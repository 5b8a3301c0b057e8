"""Issue 15's rough edges: every list page of the portal and the staff console's main lists fit a 390 px phone
(no sideways scrolling of the page or of a table: rows stack into "label value" lines), in English and French, with
data on every list; and the portal's main navigation offers only what the user's group may open. For the Non-Portal
User Group and a few partial groups every link and GET form on every page reachable from home leads to a page the
user may open (no 403, no 404). The data is made through the product's staff and portal APIs for a customer of the
test's own."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import pytest

from servicekit import permissions as perm
from servicekit.permissions import CATALOGUE, NON_PORTAL_USER_GROUP
from tests.e2e.billing_world import estimate, invoice, new_customer, staff_token
from tests.e2e.helpers import api, api_sign_in, sign_in

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks
PHONE = {"width": 390, "height": 844}

# Each portal list page and what shows that it has rows.
PORTAL_LISTS = {
    "/tickets": "main table tbody tr",
    "/billing/invoices": "main table tbody tr",
    "/billing/payments": "main table tbody tr",
    "/billing/estimates": "main table tbody tr",
    "/assets": "main table tbody tr",
    "/documents": "main table tbody tr",
    "/credentials": "main table tbody tr",
    "/kb": "ul.kb-list li",
    "/billing": "main table tbody tr",
    "/remote-requests": "#pending-requests tbody tr",
}
STAFF_LISTS = {
    "/staff": "main table tbody tr",
    "/staff/tickets": "main table tbody tr",
    "/staff/customers": "main table tbody tr",
    "/staff/groups": "main table tbody tr",
    "/staff/audit": "main table tbody tr",
    "/staff/scripts": "main table tbody tr",
    "/staff/credential-access": "main table tbody tr",
    "/staff/customers/{customer}/secure-links": "main table tbody tr",
}

# The crawl's groups: the built-in Non-Portal User Group and partial ones, each missing what its pages could offer
# (creating tickets, paying, the overview, assets' run-script …).
PARTIAL_GROUPS = {
    "tickets-and-invoices": {perm.TICKETS_VIEW_MINE, perm.INVOICES_VIEW_MINE},
    "billing-without-pay": {perm.INVOICES_VIEW_ALL, perm.PAYMENTS_VIEW_ALL, perm.ESTIMATES_VIEW_ALL},
    "assets-and-documents": {perm.ASSETS_VIEW_ALL, perm.ATTACHMENTS_VIEW_PUBLIC, perm.TICKETS_VIEW_ALL},
    "kb-and-credentials": {perm.KNOWLEDGE_BASE_VIEW, perm.CREDENTIALS_VIEW_ALL},
    "overview-and-options": {perm.ACCOUNT_OVERVIEW_VIEW, perm.PAYMENT_OPTIONS_MANAGE},
    "upload-and-privacy": {perm.DOCUMENTS_UPLOAD, perm.PRIVACY_SETTINGS_MANAGE},
    "assets-mine-with-scripts": {perm.ASSETS_VIEW_MINE, perm.ASSETS_RUN_SCRIPT, perm.PAYMENTS_VIEW_MINE},
}
CRAWL_MAX_PAGES = 120
# Never followed: they change the session or the language rather than show a page.
_SKIP = re.compile(r"^/(signout|lang/|static/|link\b)")


@dataclass
class User:
    login: str
    password: str
    permissions: frozenset[str]


@dataclass
class Edges:
    customer_id: str
    admin: User
    groups: dict[str, User] = field(default_factory=dict)


def _staff_client(stack) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


def _ok(r: httpx.Response, *codes: int) -> dict:
    assert r.status_code in (codes or (200, 201)), r.text
    return r.json() if r.content else {}


def _enable_remote_access(s: httpx.Client, customer_id: str) -> None:
    """PUT replaces the customer: send it back as read with only the setting changed (SPEC C3)."""
    record = _ok(s.get(f"/api/v1/staff/customers/{customer_id}"))
    body = {
        k: record[k]
        for k in ("business_name", "first_name", "last_name", "email", "notes", "phones", "addresses", "parent_id")
        if k in record
    }
    body["custom_fields"] = [{"field_id": a["field_id"], "value": a["value"]} for a in record.get("custom_fields", [])]
    body["settings"] = {**record["settings"], "remote_access_enabled": True}
    _ok(s.put(f"/api/v1/staff/customers/{customer_id}", json=body))


def _png() -> bytes:
    return base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )


@pytest.fixture(scope="module")
def edges(stack) -> Edges:  # noqa: ANN001
    """A customer of its own with a row on every list, an admin portal user, and one user per crawled group."""
    token = staff_token(stack)
    customer = new_customer(stack, token)
    cid, tag = customer.customer_id, secrets.token_hex(3)
    world = Edges(cid, User(customer.login, customer.password, frozenset(CATALOGUE)))
    with _staff_client(stack) as s, api(stack, api_sign_in(stack, customer.login, customer.password)) as c:
        _enable_remote_access(s, cid)
        ticket = _ok(c.post("/api/v1/tickets", json={"subject": f"Printer offline {tag}", "description": "Jammed."}))
        paid = invoice(stack, token, cid, "2026-03-02", ("Managed IT services, monthly retainer", 45_000))
        invoice(stack, token, cid, "2026-04-01", ("On-site visit and network cable replacement", 21_250))
        estimate(stack, token, cid, f"Office Wi-Fi refresh {tag}", ("Wi-Fi 6 access point", 99_600))
        _ok(
            s.post(
                f"/api/v1/staff/customers/{cid}/payments",
                json={
                    "method": "check",
                    "reference": "1042",
                    "amount_minor": 45_000,
                    "allocations": [{"invoice_id": paid.id, "amount_minor": 45_000}],
                },
                headers={"Idempotency-Key": f"edges-pay-{uuid.uuid4().hex}"},
            )
        )
        asset = _ok(
            s.post(
                f"/api/v1/staff/customers/{cid}/assets",
                json={
                    "name": f"Front desk PC {tag}",
                    "serial_number": f"SN-{tag.upper()}-0001-LONG",
                    "asset_type": "Desktop",
                },
                headers={"Idempotency-Key": f"edges-asset-{uuid.uuid4().hex}"},
            )
        )
        _ok(
            s.post(
                f"/api/v1/staff/customers/{cid}/documents",
                files={"file": (f"Network diagram of the main office {tag}.png", _png(), "image/png")},
                data={"visibility": "public"},
                headers={"Idempotency-Key": f"edges-doc-{uuid.uuid4().hex}"},
            )
        )
        credential = _ok(
            s.post(
                "/api/v1/staff/credentials",
                json={
                    "customer_id": cid,
                    "name": f"Office Wi-Fi {tag}",
                    "username": "guest-administrator",
                    "url": "https://wifi-controller.example.test/admin/login",
                    "password": secrets.token_urlsafe(12),
                    "public": True,
                },
                headers={"Idempotency-Key": f"edges-cred-{uuid.uuid4().hex}"},
            )
        )
        _ok(s.post(f"/api/v1/staff/credentials/{credential['id']}/reveal"))
        _ok(
            s.post(
                f"/api/v1/staff/assets/{asset['id']}/access-requests",
                json={"ticket_id": ticket["id"], "window_minutes": 30, "reason": "Check the print spooler"},
                headers={"Idempotency-Key": f"edges-ask-{uuid.uuid4().hex}"},
            )
        )
        _ok(
            s.post(
                "/api/v1/staff/kb/articles",
                json={
                    "title": f"Resetting the office printer {tag}",
                    "body": "Hold the power button for ten seconds.",
                    "published": True,
                },
            )
        )
        _ok(s.post(f"/api/v1/staff/customers/{cid}/secure-links", json={"scope": "customer"}))
        script = {"name": f"Check the disk space of every volume {tag}", "language": "shell", "body": "df -h"}
        _ok(s.post("/api/v1/staff/scripts", json=script))

        groups = {NON_PORTAL_USER_GROUP: frozenset({perm.TICKETS_VIEW_MINE})}
        for name, permissions in PARTIAL_GROUPS.items():
            group = f"Edges {name} {tag}"
            _ok(s.post("/api/v1/staff/permission-groups", json={"name": group, "permissions": sorted(permissions)}))
            groups[group] = frozenset(permissions)
        for i, (group, permissions) in enumerate(groups.items()):
            login, password = f"edges-{i}-{tag}@example.test", f"pw-{tag}-{i}-long-enough"
            contact = _ok(
                s.post(f"/api/v1/staff/customers/{cid}/contacts", json={"name": f"Edges {i}", "email": login})
            )
            _ok(
                s.post(
                    f"/api/v1/staff/customers/{cid}/portal-users",
                    json={
                        "contact_id": contact["id"],
                        "login": login,
                        "email": login,
                        "password": password,
                        "group_name": group,
                    },
                )
            )
            # A ticket of the user's own contact, so "Mine" has something to open.
            _ok(
                s.post(
                    "/api/v1/staff/tickets",
                    json={
                        "customer_id": cid,
                        "contact_id": contact["id"],
                        "subject": f"Slow laptop {i} {tag}",
                        "description": "It takes minutes to start.",
                    },
                )
            )
            world.groups[group] = User(login, password, permissions)
    return world


# --- 390 px -------------------------------------------------------------------------------------------------------

# The page's width, and every box a person would have to scroll sideways (a table's scrolling wrapper).
_MEASURE = """() => {
  const wide = [...document.querySelectorAll('.table-wrap, main, main *')]
    .filter(el => el.scrollWidth > el.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
    .map(el => el.className || el.tagName);
  return {page: document.documentElement.scrollWidth, scrollers: wide};
}"""


async def _fits(page, base: str, path: str, rows: str) -> None:  # noqa: ANN001
    await page.goto(base + path)
    assert await page.locator(rows).count() >= 1, f"{path} shows no rows"
    measured = await page.evaluate(_MEASURE)
    assert measured["page"] <= PHONE["width"], (path, measured)
    assert measured["scrollers"] == [], (path, measured)


async def test_every_list_fits_a_phone_in_english_and_french(stack, browser, edges: Edges) -> None:  # noqa: ANN001
    base = stack.gateway_url
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    ctx = await browser.new_context(viewport=PHONE)
    try:
        page = await ctx.new_page()
        await sign_in(page, base, "/signin", edges.admin.login, edges.admin.password)
        await page.wait_for_url(base + "/")
        for lang in ("en", "fr"):
            await page.goto(f"{base}/lang/{lang}?next=/")
            for path, rows in PORTAL_LISTS.items():
                await _fits(page, base, path, rows)
                if path in ("/tickets", "/billing/invoices") or lang == "en":
                    await page.screenshot(
                        path=str(SHOTS / f"edges-{lang}{path.replace('/', '-')}-390.png"), full_page=True
                    )
            # Pay now is in view on the phone, without scrolling sideways.
            await page.goto(f"{base}/billing/invoices")
            pay = page.locator("main table a.button[href^='/billing/pay?invoice=']").first
            box = await pay.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
            # The main navigation folds into a menu that opens without JavaScript.
            await page.goto(f"{base}/")
            assert not await page.locator(".main-nav-wide").is_visible()
            await page.locator(".main-nav-menu summary").click()
            assert await page.locator("#nav-narrow-invoices").is_visible()
            if lang == "en":
                await page.screenshot(path=str(SHOTS / "edges-en-menu-open-390.png"), full_page=False)

        # On a wide screen the same links are one row, the current area marked.
        await page.goto(f"{base}/lang/en?next=/billing/invoices")
        await page.set_viewport_size({"width": 1280, "height": 900})
        assert await page.locator("#nav-wide-invoices").get_attribute("aria-current") == "page"
        assert not await page.locator(".main-nav-menu").is_visible()
        await page.screenshot(path=str(SHOTS / "edges-en-billing-invoices-1280.png"), full_page=True)

        staff = await ctx.new_page()
        await staff.goto(f"{base}/lang/en?next=/")
        await sign_in(staff, base, "/staff/signin", stack.config.staff_email, stack.config.staff_password)
        await staff.wait_for_url(base + "/staff")
        for lang in ("en", "fr"):
            await staff.goto(f"{base}/lang/{lang}?next=/staff")
            for path, rows in STAFF_LISTS.items():
                await _fits(staff, base, path.format(customer=edges.customer_id), rows)
                if lang == "en":
                    name = path.replace("/{customer}", "").replace("/", "-")
                    await staff.screenshot(path=str(SHOTS / f"edges-en{name}-390.png"), full_page=True)
    finally:
        await ctx.close()


# --- links a group can use ----------------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()
        self.posts: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.found.add(a["href"] or "")
        elif tag == "form" and (a.get("method") or "get").lower() == "get" and a.get("action"):
            self.found.add(a["action"] or "")
        elif tag == "form" and a.get("action"):
            self.posts.add(a["action"] or "")


def _crawl(stack, user: User) -> tuple[dict[str, int], set[str]]:  # noqa: ANN001
    """Every same-origin page reachable from home by links and GET forms, with its status code; and the paths the
    POST forms on those pages send to (not sent: they change things)."""
    session = api_sign_in(stack, user.login, user.password)
    seen: dict[str, int] = {}
    posts: set[str] = set()
    queue = ["/"]
    with httpx.Client(
        base_url=stack.gateway_url, cookies={"portal_session": session}, timeout=15, follow_redirects=False
    ) as c:
        while queue and len(seen) < CRAWL_MAX_PAGES:
            path = queue.pop(0)
            if path in seen:
                continue
            r = c.get(path)
            for _ in range(3):
                # A first PDF loads fpdf2 in the service; on a loaded machine that can outlast the call's deadline.
                if r.status_code != 503:
                    break
                time.sleep(2)
                r = c.get(path)
            seen[path] = r.status_code
            if r.status_code != 200 or not r.headers.get("content-type", "").startswith("text/html"):
                continue
            parser = _Links()
            parser.feed(r.text)
            posts |= {urlsplit(urljoin(stack.gateway_url + path, x)).path for x in parser.posts}
            for href in parser.found:
                url = urlsplit(urljoin(stack.gateway_url + path, urldefrag(href)[0]))
                if f"{url.scheme}://{url.netloc}" != stack.gateway_url.rstrip("/"):
                    continue
                target = url.path + (f"?{url.query}" if url.query else "")
                if not _SKIP.match(url.path) and target not in seen:
                    queue.append(target)
    return seen, posts


@pytest.mark.parametrize("group", [NON_PORTAL_USER_GROUP, *PARTIAL_GROUPS])
def test_every_link_a_group_is_shown_opens(stack, edges: Edges, group: str) -> None:  # noqa: ANN001
    user = next(u for name, u in edges.groups.items() if name == group or name.startswith(f"Edges {group} "))
    seen, posts = _crawl(stack, user)
    refused = {path: code for path, code in seen.items() if code in (403, 404) or code >= 500}
    assert refused == {}, (group, refused)
    assert len(seen) >= 3, seen
    paths = {urlsplit(p).path for p in seen}
    may = user.permissions
    # What the group lacks is not offered at all: the crawl never meets the link.
    if perm.TICKETS_CREATE not in may:
        assert "/tickets/new" not in paths
    if perm.INVOICES_PAY_ONLINE not in may:
        assert "/billing/pay" not in paths
    if not may & {perm.INVOICES_VIEW_ALL, perm.INVOICES_VIEW_MINE}:
        assert not any(p.startswith("/billing/invoices") for p in paths)
    if not may & {perm.ASSETS_VIEW_ALL, perm.ASSETS_VIEW_MINE}:
        assert "/assets" not in paths and "/remote-requests" not in paths
    if perm.KNOWLEDGE_BASE_VIEW not in may:
        assert "/kb" not in paths
    # Nor is an action the group may not take.
    if perm.TICKETS_CREATE not in may:
        assert "/tickets/new" not in posts
    if perm.INVOICES_PAY_ONLINE not in may:
        assert "/billing/pay" not in posts
    if perm.DOCUMENTS_UPLOAD not in may:
        assert "/documents" not in posts
    if perm.ASSETS_RUN_SCRIPT not in may:
        assert not [p for p in posts if re.fullmatch(r"/assets/[^/]+/scripts/[^/]+/run", p)], posts
    if perm.PRIVACY_SETTINGS_MANAGE not in may:
        assert "/account/privacy" not in posts and "/account/privacy" not in paths
    if perm.PAYMENT_OPTIONS_MANAGE not in may:
        assert not [p for p in posts | paths if p.startswith("/billing/payment-options")], posts
    print(f"{group}: {len(seen)} pages, POST forms {sorted(posts)}")  # noqa: T201 - shown with -s
    if group == NON_PORTAL_USER_GROUP:
        # Search is everyone's: it finds only what the group may see (tests/e2e/test_search.py).
        assert {p for p in paths if not p.startswith(("/tickets", "/ticket-files", "/account", "/mfa"))} <= {
            "/",
            "/search",
        }, paths
