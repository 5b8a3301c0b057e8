"""Issue 3 (SPEC P6) end to end, real processes: staff make secure links through the staff API; a link opens a
session that reaches its one ticket, or its one site's tickets, and nothing else — refused by the gateway and by
every service called directly over gRPC with the link's principal token; a revoked, an expired and a used-up
single-use link are refused; each use is in the link's audit trail; the token is in no later answer and no log."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.billing.v1 import billing_pb2, billing_pb2_grpc
from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal.remote.v1 import remote_pb2, remote_pb2_grpc
from portal.tickets.v1 import knowledge_pb2, knowledge_pb2_grpc, tickets_pb2, tickets_pb2_grpc
from tests.e2e.helpers import ACME, BLUE, api, api_sign_in
from tests.e2e.test_tickets_private_notes import staff_token

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BANNER = "You are viewing through a secure link."
UA = "secure-link-e2e/1.0"


def _staff_api(stack) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


def _customer_id(stack, login: str, password: str) -> str:  # noqa: ANN001
    with api(stack, api_sign_in(stack, login, password)) as c:
        return c.get("/api/v1/me").json()["customer_id"]


def _ticket(stack, login: str, password: str, subject: str) -> str:  # noqa: ANN001
    with api(stack, api_sign_in(stack, login, password)) as c:
        r = c.post("/api/v1/tickets", json={"subject": subject, "description": "Made by the secure link test."})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _make_link(staff: httpx.Client, customer_id: str, **body: object) -> dict:
    r = staff.post(f"/api/v1/staff/customers/{customer_id}/secure-links", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["url"].endswith(f"/link?token={made['token']}")
    return made


def _open(stack, token: str) -> httpx.Response:  # noqa: ANN001
    with httpx.Client(base_url=stack.gateway_url, timeout=15, headers={"User-Agent": UA}) as c:
        return c.get("/link", params={"token": token})


def _session(stack, token: str) -> str:  # noqa: ANN001
    r = _open(stack, token)
    assert r.status_code == 303, r.text
    cookie = r.cookies.get("portal_session")
    assert cookie and cookie != token
    return cookie


def _browser(stack, session: str) -> httpx.Client:  # noqa: ANN001
    return httpx.Client(
        base_url=stack.gateway_url, headers={"Cookie": f"portal_session={session}"}, timeout=15, follow_redirects=False
    )


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _principal_token(stack, session: str) -> str:  # noqa: ANN001
    with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        return stub.ResolveSession(
            identity_pb2.ResolveSessionRequest(session_token=session), timeout=10
        ).principal_token


def _code(call, *args, **kw) -> grpc.StatusCode:  # noqa: ANN001, ANN002, ANN003
    try:
        call(*args, timeout=10, **kw)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _site(stack, customer_id: str) -> str:  # noqa: ANN001
    with grpc.insecure_channel(stack.grpc_addr("assets")) as ch:
        req = assets_pb2.CreateSiteRequest(customer_id=customer_id, name=f"Depot {uuid.uuid4().hex[:6]}")
        return (
            assets_pb2_grpc.AssetsServiceStub(ch).CreateSite(req, timeout=10, metadata=_md(staff_token(stack))).site.id
        )


def _wait_refused(client: httpx.Client, path: str, limit: float = 15.0) -> httpx.Response:
    """The gateway caches a principal for a few seconds: a revoked link stops working within them."""
    deadline = time.monotonic() + limit
    while True:
        r = client.get(path)
        if r.status_code == 303 or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


def test_a_ticket_link_reaches_its_ticket_and_nothing_else(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    acme = _customer_id(stack, ACME.login, ACME.password)
    mine = _ticket(stack, ACME.login, ACME.password, f"Linked printer {tag}")
    sibling = _ticket(stack, ACME.login, ACME.password, f"Sibling ticket {tag}")
    foreign = _ticket(stack, BLUE.login, BLUE.password, f"Blue ticket {tag}")
    seen_secrets: list[str] = []
    with _staff_api(stack) as staff:
        made = _make_link(staff, acme, scope="ticket", scope_id=mine)
        seen_secrets.append(made["token"])
        # Another customer's ticket cannot be the scope of Acme's link.
        bad = staff.post(f"/api/v1/staff/customers/{acme}/secure-links", json={"scope": "ticket", "scope_id": foreign})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")

        opened = _open(stack, made["token"])
        assert opened.status_code == 303 and opened.headers["location"] == f"/tickets/{mine}"
        session = opened.cookies.get("portal_session")
        seen_secrets.append(session)
        answers: list[str] = []
        with _browser(stack, session) as b:
            page = b.get(f"/tickets/{mine}")
            assert page.status_code == 200 and f"Linked printer {tag}" in page.text
            assert BANNER in page.text
            assert f"/tickets/{mine}/edit" not in page.text and f"/tickets/{mine}/close" not in page.text
            csrf = _CSRF.search(page.text).group(1)
            r = b.post(
                f"/tickets/{mine}/comments", data={"body": f"Comment through the link {tag}", "csrf_token": csrf}
            )
            assert r.status_code == 303, r.text
            assert f"Comment through the link {tag}" in b.get(f"/tickets/{mine}").text
            listed = b.get("/tickets")
            assert listed.status_code == 200 and mine in listed.text and sibling not in listed.text
            assert b.get(f"/tickets/{mine}/pdf").status_code == 200
            for other in (sibling, foreign):
                assert b.get(f"/tickets/{other}").status_code == 404
                assert b.get(f"/tickets/{other}/pdf").status_code == 404
                r = b.post(f"/tickets/{other}/comments", data={"body": "hello", "csrf_token": csrf})
                assert r.status_code == 404
            # Reading and commenting only.
            assert b.post(f"/tickets/{mine}/close", data={"csrf_token": csrf}).status_code == 403
            r = b.post(f"/tickets/{mine}/edit", data={"subject": "x", "description": "y", "csrf_token": csrf})
            assert r.status_code == 403
            assert b.get("/tickets/new").status_code == 403
            for path in ("/billing", "/billing/invoices", "/billing/payments", "/kb", "/account/privacy"):
                assert b.get(path).status_code in (403, 404), path
            assert b.get("/account/password").status_code == 403
            staff_page = b.get("/staff")
            assert staff_page.status_code == 303 and staff_page.headers["location"].startswith("/staff/signin")
            answers += [page.text, listed.text, b.get("/").text]
        with api(stack, session) as c:
            for path in ("/api/v1/invoices", "/api/v1/payments", "/api/v1/kb/articles", "/api/v1/staff/customers"):
                assert c.get(path).status_code in (403, 404), path
            assert c.get(f"/api/v1/tickets/{sibling}").status_code == 404
            assert c.get(f"/api/v1/tickets/{mine}").status_code == 200
            answers.append(c.get("/api/v1/me").text)

        # The services refuse the link's principal themselves, whatever the gateway shows.
        md = _md(_principal_token(stack, session))
        with grpc.insecure_channel(stack.grpc_addr("tickets")) as ch:
            t = tickets_pb2_grpc.TicketsServiceStub(ch)
            assert {x.id for x in t.ListTickets(tickets_pb2.ListTicketsRequest(), timeout=10, metadata=md).tickets} == {
                mine
            }
            for other in (sibling, foreign):
                assert (
                    _code(t.GetTicket, tickets_pb2.GetTicketRequest(ticket_id=other), metadata=md)
                    == grpc.StatusCode.NOT_FOUND
                )
                assert (
                    _code(t.ListComments, tickets_pb2.ListCommentsRequest(ticket_id=other), metadata=md)
                    == grpc.StatusCode.NOT_FOUND
                )
            new = tickets_pb2.CreateTicketRequest(subject="New", description="Through a ticket link")
            assert _code(t.CreateTicket, new, metadata=md) == grpc.StatusCode.PERMISSION_DENIED
            close = tickets_pb2.CloseTicketRequest(ticket_id=mine)
            assert _code(t.CloseTicket, close, metadata=md) == grpc.StatusCode.PERMISSION_DENIED
            kb = knowledge_pb2_grpc.KnowledgeServiceStub(ch)
            assert (
                _code(kb.ListArticles, knowledge_pb2.ListArticlesRequest(), metadata=md)
                == grpc.StatusCode.PERMISSION_DENIED
            )
        with grpc.insecure_channel(stack.grpc_addr("billing")) as ch:
            bill = billing_pb2_grpc.BillingServiceStub(ch)
            assert (
                _code(bill.ListInvoices, billing_pb2.ListInvoicesRequest(), metadata=md)
                == grpc.StatusCode.PERMISSION_DENIED
            )
        with grpc.insecure_channel(stack.grpc_addr("assets")) as ch:
            assets = assets_pb2_grpc.AssetsServiceStub(ch)
            assert (
                _code(assets.ListAssets, assets_pb2.ListAssetsRequest(), metadata=md)
                == grpc.StatusCode.PERMISSION_DENIED
            )
        with grpc.insecure_channel(stack.grpc_addr("remote")) as ch:
            runs = remote_pb2.ListScriptRunsRequest()
            assert (
                _code(remote_pb2_grpc.RemoteServiceStub(ch).ListScriptRuns, runs, metadata=md)
                == grpc.StatusCode.PERMISSION_DENIED
            )
        with grpc.insecure_channel(stack.grpc_addr("identity")) as ch:
            ident = identity_pb2_grpc.IdentityServiceStub(ch)
            assert _code(ident.GetCustomer, identity_pb2.GetCustomerRequest(), metadata=md) == grpc.StatusCode.NOT_FOUND
            listing = identity_pb2.ListSecureLinksRequest(customer_id=acme)
            assert _code(ident.ListSecureLinks, listing, metadata=md) == grpc.StatusCode.PERMISSION_DENIED

        # The audit trail has the use; the listings never have the token.
        uses = staff.get(f"/api/v1/staff/secure-links/{made['link']['id']}/uses")
        assert uses.status_code == 200
        assert [(u["outcome"], u["user_agent"]) for u in uses.json()] == [("opened", UA)]
        links = staff.get(f"/api/v1/staff/customers/{acme}/secure-links")
        assert made["link"]["id"] in [x["id"] for x in links.json()]
        answers += [uses.text, links.text]

        # Revoked: the open session ends within seconds and the link opens nothing any more.
        revoked = staff.post(f"/api/v1/staff/secure-links/{made['link']['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        answers.append(revoked.text)
        with _browser(stack, session) as b:
            ended = _wait_refused(b, f"/tickets/{mine}")
            assert ended.status_code == 303 and ended.headers["location"].startswith("/signin")
        dead = _open(stack, made["token"])
        assert dead.status_code == 410 and "This link does not work" in dead.text
        assert "portal_session" not in dead.cookies
        outcomes = [u["outcome"] for u in staff.get(f"/api/v1/staff/secure-links/{made['link']['id']}/uses").json()]
        assert outcomes == ["revoked", "opened"]
    for answer in answers:
        assert made["token"] not in answer


def test_a_site_link_sees_its_sites_tickets_and_opens_tickets_there(stack) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    acme = _customer_id(stack, ACME.login, ACME.password)
    site = _site(stack, acme)
    elsewhere = _ticket(stack, ACME.login, ACME.password, f"No site {tag}")
    with _staff_api(stack) as staff:
        r = staff.post(
            "/api/v1/staff/tickets",
            json={"customer_id": acme, "subject": f"On the site {tag}", "description": "d", "site_id": site},
        )
        assert r.status_code == 201, r.text
        on_site = r.json()["ticket"]["id"]
        bad = staff.post(f"/api/v1/staff/customers/{acme}/secure-links", json={"scope": "site", "scope_id": "nope"})
        assert bad.status_code == 400
        made = _make_link(staff, acme, scope="site", scope_id=site, single_use=True)
        opened = _open(stack, made["token"])
        assert opened.status_code == 303 and opened.headers["location"] == "/tickets"
        session = opened.cookies.get("portal_session")
        with _browser(stack, session) as b:
            listed = b.get("/tickets")
            assert on_site in listed.text and elsewhere not in listed.text and BANNER in listed.text
            assert b.get(f"/tickets/{elsewhere}").status_code == 404
            form = b.get("/tickets/new")
            assert form.status_code == 200
            csrf = _CSRF.search(form.text).group(1)
            key = re.search(r'name="idempotency_key" value="([^"]+)"', form.text).group(1)
            r = b.post(
                "/tickets/new",
                data={
                    "subject": f"Opened through a site link {tag}",
                    "description": "The gate is stuck.",
                    "priority": "normal",
                    "idempotency_key": key,
                    "csrf_token": csrf,
                },
            )
            assert r.status_code == 303, r.text
            created = r.headers["location"].rsplit("/", 1)[1]
            assert b.get(f"/tickets/{created}").status_code == 200
        with grpc.insecure_channel(stack.grpc_addr("tickets")) as ch:
            ticket = (
                tickets_pb2_grpc.TicketsServiceStub(ch)
                .GetTicket(
                    tickets_pb2.GetTicketRequest(ticket_id=created), timeout=10, metadata=_md(staff_token(stack))
                )
                .ticket
            )
        assert (ticket.customer_id, ticket.site_id) == (acme, site)
        # Single use: the second visit is refused, and audited as such.
        assert _open(stack, made["token"]).status_code == 410
        outcomes = [u["outcome"] for u in staff.get(f"/api/v1/staff/secure-links/{made['link']['id']}/uses").json()]
        assert outcomes == ["used", "opened"]
        state = [
            x["state"]
            for x in staff.get(f"/api/v1/staff/customers/{acme}/secure-links").json()
            if x["id"] == made["link"]["id"]
        ]
        assert state == ["used"]


def test_an_expired_link_is_refused(stack) -> None:  # noqa: ANN001
    acme = _customer_id(stack, ACME.login, ACME.password)
    with _staff_api(stack) as staff:
        made = _make_link(staff, acme, scope="customer", expires_in_seconds=60)
        # A minute is the shortest life: bring its end to 8 s from now rather than wait for it. No event announces
        # an expiry: the gateway keeps the link's session no longer than the principal token identity signs, which
        # ends with the link (issue 16), although it would keep a signed-in user's 300 s.
        ends = datetime.now(UTC) + timedelta(seconds=8)
        with sqlite3.connect(stack.var_dir / "identity.db") as db:
            db.execute(
                "UPDATE secure_links SET expires_at = ? WHERE id = ?",
                (ends.strftime("%Y-%m-%d %H:%M:%S.%f"), made["link"]["id"]),
            )
        session = _session(stack, made["token"])
        with _browser(stack, session) as b:
            assert b.get("/").status_code == 200
            ended = _wait_refused(b, "/")
            assert ended.status_code == 303 and ended.headers["location"].startswith("/signin")
            assert datetime.now(UTC) >= ends - timedelta(seconds=0.5), "refused only once the link has expired"
        assert _open(stack, made["token"]).status_code == 410
        uses = staff.get(f"/api/v1/staff/secure-links/{made['link']['id']}/uses").json()
        assert [u["outcome"] for u in uses] == ["expired", "opened"]
        listed = [
            x for x in staff.get(f"/api/v1/staff/customers/{acme}/secure-links").json() if x["id"] == made["link"]["id"]
        ]
        assert listed[0]["state"] == "expired"


def test_no_link_token_reaches_a_log(stack) -> None:  # noqa: ANN001
    acme = _customer_id(stack, ACME.login, ACME.password)
    with _staff_api(stack) as staff:
        made = _make_link(staff, acme, scope="customer")
        session = _session(stack, made["token"])
        staff.post(f"/api/v1/staff/secure-links/{made['link']['id']}/revoke")
    _open(stack, made["token"])  # refused now: the refusal path logs too
    time.sleep(1.0)  # let the processes flush their logs
    checked = []
    for name in ("identity", "gateway", "tickets", "billing", "assets", "remote"):
        path = stack.log_path(name)
        if not path.exists():
            continue
        text = path.read_text("utf-8", errors="replace")
        checked.append(name)
        assert made["token"] not in text, f"{name}.log holds a secure link token"
        assert session not in text, f"{name}.log holds a link session token"
    assert {"identity", "gateway"} <= set(checked), checked


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_a_page_opened_through_a_link_says_so(stack, page, tmp_path, lang) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:8]
    acme = _customer_id(stack, ACME.login, ACME.password)
    mine = _ticket(stack, ACME.login, ACME.password, f"Printer in the lobby {tag}")
    with _staff_api(stack) as staff:
        made = _make_link(staff, acme, scope="ticket", scope_id=mine)
    await page.context.add_cookies([{"name": "lang", "value": lang, "url": stack.gateway_url}])
    await page.goto(made["url"].replace(made["url"].split("/link")[0], stack.gateway_url))
    await page.wait_for_url(f"**/tickets/{mine}")
    banner = page.locator(".link-banner")
    expected = BANNER if lang == "en" else "Vous consultez le portail par un lien sécurisé."
    assert expected in await banner.inner_text()
    header = "Secure link for Acme" if lang == "en" else "Lien sécurisé pour Acme"
    assert header in await page.locator(".site-header .user").inner_text()
    assert "token" not in page.url
    await page.screenshot(path=str(tmp_path / f"secure-link-{lang}.png"), full_page=True)
    print(f"screenshot: {tmp_path / f'secure-link-{lang}.png'}")
    # Sign-out ends the link's session like anyone's.
    await page.locator("form[action='/signout'] button").click()
    await page.wait_for_url("**/signin")
    await page.goto(f"{stack.gateway_url}/tickets/{mine}")
    assert "/signin" in page.url
