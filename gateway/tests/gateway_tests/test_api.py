"""The JSON API: sessions, principal cache, tickets, home, and problem+json for every failure."""

from __future__ import annotations

import re
import time

import pytest

from gateway_tests.conftest import Gateway, free_port, running_gateway

pytestmark = pytest.mark.asyncio

PROBLEM = "application/problem+json"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r, status: int, slug: str) -> dict:  # noqa: ANN001
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["type"] == f"https://portal.example/problems/{slug}"
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_session_lifecycle(gw: Gateway) -> None:
    r = await gw.client.post("/api/v1/sessions", json={"login": "alice@acme.test", "password": "correct horse"})
    assert r.status_code == 201
    token = r.json()["session_token"]
    assert r.json()["expires_at"]
    me = await gw.client.get("/api/v1/me", headers=auth(token))
    assert me.status_code == 200
    assert me.json()["customer_name"] == "Acme Dental Clinic" and me.json()["display_name"] == "Alice Martin"
    assert (await gw.client.delete("/api/v1/sessions/current", headers=auth(token))).status_code == 204
    assert_problem(await gw.client.get("/api/v1/me", headers=auth(token)), 401, "unauthenticated")


async def test_wrong_password_and_missing_fields(gw: Gateway) -> None:
    r = await gw.client.post("/api/v1/sessions", json={"login": "alice@acme.test", "password": "nope"})
    assert_problem(r, 401, "unauthenticated")
    body = assert_problem(await gw.client.post("/api/v1/sessions", json={"login": "x"}), 400, "invalid-request")
    assert {"field": "password", "in": "body", "message": "Field required"} in body["errors"]
    r = await gw.client.post("/api/v1/sessions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid-request")


async def test_without_or_with_a_bad_token_is_401(gw: Gateway) -> None:
    r = await gw.client.get("/api/v1/tickets")
    body = assert_problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Authorization" in body["detail"]
    assert_problem(await gw.client.get("/api/v1/home", headers=auth("st-nope")), 401, "unauthenticated")
    assert_problem(await gw.client.get("/api/v1/me", headers={"Authorization": "Basic eDp5"}), 401, "unauthenticated")


async def test_principal_is_cached_between_requests(gw: Gateway) -> None:
    token = await gw.api_token()
    for _ in range(3):
        assert (await gw.client.get("/api/v1/me", headers=auth(token))).status_code == 200
    assert (await gw.client.get("/api/v1/home", headers=auth(token))).status_code == 200
    assert gw.world.calls["ResolveSession"] == 1
    assert gw.world.calls["GetCustomer"] == 1


async def test_the_cache_expires(backends) -> None:
    async with running_gateway(backends, principal_cache_seconds="0") as g:
        token = await g.api_token()
        await g.client.get("/api/v1/me", headers=auth(token))
        await g.client.get("/api/v1/me", headers=auth(token))
        assert g.world.calls["ResolveSession"] == 2


async def test_session_events_drop_the_cached_principal(gw: Gateway) -> None:
    """Issue 16: with the events heard, a session is kept long; an event naming its user or one of its customers
    drops it, one naming someone else does not, and losing the events cuts every entry to the short TTL."""
    cache = gw.app.state.sessions
    cache.trust()
    token = await gw.api_token()
    me = (await gw.client.get("/api/v1/me", headers=auth(token))).json()
    assert cache.ttl_seconds == 300.0
    await gw.client.get("/api/v1/me", headers=auth(token))
    assert gw.world.calls["ResolveSession"] == 1
    assert cache.invalidate("group", user_ids=["someone-else"], customer_ids=["another-customer"]) == 0
    await gw.client.get("/api/v1/me", headers=auth(token))
    assert gw.world.calls["ResolveSession"] == 1
    assert cache.invalidate("group", user_ids=[me["subject_id"]]) == 1
    await gw.client.get("/api/v1/me", headers=auth(token))
    assert gw.world.calls["ResolveSession"] == 2
    assert cache.invalidate("customer_updated", customer_ids=[me["customer_id"]]) == 1
    await gw.client.get("/api/v1/me", headers=auth(token))
    assert gw.world.calls["ResolveSession"] == 3
    assert cache.invalidate("portal_controls", all_sessions=True) == 1
    await gw.client.get("/api/v1/me", headers=auth(token))
    assert gw.world.calls["ResolveSession"] == 4
    cache.distrust()
    assert cache.ttl_seconds == 5.0
    assert all(e.expires <= time.monotonic() + 5.0 for e in cache._entries.values())


async def test_the_long_ttl_needs_a_live_subscription_and_a_current_heartbeat_from_identity(gw: Gateway) -> None:
    """Issue 16: identity's heartbeat says its outbox is current; without one for STALE_SECONDS, with a backlog, or
    with the subscription down, the cache is in its short-TTL mode (events could be late or missed)."""
    from types import SimpleNamespace

    from gateway.clients import session_events
    from portal.identity.v1 import events_pb2

    cache = gw.app.state.sessions
    feed = session_events.SessionEvents("nats://127.0.0.1:9", cache)

    def beat(backlog: float) -> SimpleNamespace:
        return SimpleNamespace(data=events_pb2.SessionsHeartbeat(outbox_backlog_seconds=backlog).SerializeToString())

    feed._live = True
    feed._judge()
    assert not cache.trusted, "no heartbeat yet"
    await feed._on_heartbeat(beat(0.0))
    assert cache.trusted and cache.ttl_seconds == 300.0
    await feed._on_heartbeat(beat(session_events.MAX_BACKLOG_SECONDS + 1))
    assert not cache.trusted, "identity's outbox is behind"
    await feed._on_heartbeat(beat(0.1))
    assert cache.trusted
    feed._last_beat -= session_events.STALE_SECONDS
    feed._judge()
    assert not cache.trusted and cache.ttl_seconds == 5.0, "identity went quiet"
    await feed._on_heartbeat(beat(0.0))
    feed._live = False
    feed._judge()
    assert not cache.trusted, "the subscription is down"


async def test_the_session_cache_is_bounded(backends) -> None:
    async with running_gateway(backends, session_cache_entries="1") as g:
        first, second = await g.api_token(), await g.api_token("bob@acme.test")
        for token in (first, second, first):
            assert (await g.client.get("/api/v1/me", headers=auth(token))).status_code == 200
        assert len(g.app.state.sessions) == 1
        assert g.world.calls["ResolveSession"] == 3, "the least recently used session made room"


async def test_concurrent_misses_share_one_resolve(gw: Gateway) -> None:
    import asyncio

    token = await gw.api_token()
    results = await asyncio.gather(*(gw.client.get("/api/v1/me", headers=auth(token)) for _ in range(10)))
    assert all(r.status_code == 200 for r in results)
    assert gw.world.calls["ResolveSession"] == 1


async def test_home_sections_as_json(gw: Gateway) -> None:
    body = (await gw.client.get("/api/v1/home", headers=auth(await gw.api_token()))).json()
    assert body["customer_name"] == "Acme Dental Clinic" and body["can_create_tickets"] is True
    assert [t["number"] for t in body["tickets"]["items"]] == [1002, 1001]
    assert body["invoices"]["items"][0]["balance_due"] == {"amount_minor": 23450, "currency": "USD"}
    assert body["assets"]["available"]
    # Nothing in the product creates script runs yet (issue 14): remote answers none, as here.
    assert body["script_runs"] == {"available": True, "items": []}

    limited = (await gw.client.get("/api/v1/home", headers=auth(await gw.api_token("bob@acme.test")))).json()
    assert limited["tickets"] is not None
    assert limited["invoices"] is None and limited["assets"] is None and limited["script_runs"] is None


async def test_home_with_a_backend_down(backends) -> None:
    async with running_gateway(backends, assets_addr=f"127.0.0.1:{free_port()}") as g:
        body = (await g.client.get("/api/v1/home", headers=auth(await g.api_token()))).json()
    assert body["assets"] == {"available": False, "items": []}
    assert body["tickets"]["available"] is True


async def test_list_tickets_pages_with_a_cursor(gw: Gateway) -> None:
    token = await gw.api_token()
    first = (await gw.client.get("/api/v1/tickets?page_size=1", headers=auth(token))).json()
    assert [t["subject"] for t in first["items"]] == ["VPN drops every hour"]
    assert first["next_cursor"]
    second = await gw.client.get(
        "/api/v1/tickets", params={"page_size": 1, "cursor": first["next_cursor"]}, headers=auth(token)
    )
    assert [t["number"] for t in second.json()["items"]] == [1001]
    assert second.json()["next_cursor"] is None


async def test_malformed_cursor_is_400_with_the_field(gw: Gateway) -> None:
    token = await gw.api_token()
    # Not even base64: refused by the gateway.
    body = assert_problem(
        await gw.client.get("/api/v1/tickets?cursor=%7B%21", headers=auth(token)), 400, "invalid-request"
    )
    assert body["errors"][0]["field"] == "cursor"
    # Base64 but not a cursor of ours: refused by the tickets service, mapped from INVALID_ARGUMENT.
    body = assert_problem(
        await gw.client.get("/api/v1/tickets?cursor=bm9wZQ", headers=auth(token)), 400, "invalid-request"
    )
    assert body["errors"] == [
        {"field": "cursor", "message": "the cursor is malformed; start again from the first page"}
    ]
    assert_problem(await gw.client.get("/api/v1/tickets?page_size=0", headers=auth(token)), 400, "invalid-request")
    assert_problem(await gw.client.get("/api/v1/tickets?page_size=abc", headers=auth(token)), 400, "invalid-request")


async def test_create_ticket_honours_the_idempotency_key(gw: Gateway) -> None:
    token = await gw.api_token()
    headers = {**auth(token), "Idempotency-Key": "create-1"}
    body = {"subject": "Laptop will not boot", "description": "Black screen.", "priority": "urgent"}
    first = await gw.client.post("/api/v1/tickets", json=body, headers=headers)
    again = await gw.client.post("/api/v1/tickets", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.headers["location"] == f"/api/v1/tickets/{first.json()['id']}"
    assert sum(t.subject == "Laptop will not boot" for t in gw.world.tickets) == 1
    got = await gw.client.get(first.headers["location"], headers=auth(token))
    assert got.json()["priority"] == "urgent"


async def test_empty_subject_is_400_naming_the_field(gw: Gateway) -> None:
    token = await gw.api_token()
    r = await gw.client.post("/api/v1/tickets", json={"subject": "  ", "description": "d"}, headers=auth(token))
    body = assert_problem(r, 400, "invalid-request")
    assert body["errors"][0]["field"] == "subject"
    r = await gw.client.post(
        "/api/v1/tickets", json={"subject": "s" * (1024 * 1024), "description": "d"}, headers=auth(token)
    )
    assert assert_problem(r, 400, "invalid-request")["errors"][0]["field"] == "subject"
    assert gw.world.calls.get("CreateTicket", 0) == 0


async def test_backend_invalid_argument_keeps_its_field(gw: Gateway) -> None:
    token = await gw.api_token()
    r = await gw.client.post(
        "/api/v1/tickets", json={"subject": "s", "description": "d", "priority": "bogus"}, headers=auth(token)
    )
    body = assert_problem(r, 400, "invalid-request")
    assert body["errors"] == [{"field": "priority", "message": "unknown priority"}]
    assert body["detail"] == "priority: unknown priority"


async def test_another_customers_ticket_is_404(gw: Gateway) -> None:
    token = await gw.api_token("carol@globex.test")
    assert (await gw.client.get("/api/v1/tickets/tkt-3", headers=auth(token))).status_code == 200
    body = assert_problem(await gw.client.get("/api/v1/tickets/tkt-1", headers=auth(token)), 404, "not-found")
    assert "Printer" not in str(body)


async def test_too_large_body_is_413(gw: Gateway) -> None:
    token = await gw.api_token()
    big = b'{"subject": "' + b"x" * (3 * 1024 * 1024) + b'", "description": "d"}'
    r = await gw.client.post(
        "/api/v1/tickets", content=big, headers={**auth(token), "Content-Type": "application/json"}
    )
    body = assert_problem(r, 413, "payload-too-large")
    assert "2 MB" in body["detail"]

    async def chunks():
        for _ in range(3):
            yield b"x" * (1024 * 1024)

    r = await gw.client.post(
        "/api/v1/tickets", content=chunks(), headers={**auth(token), "Content-Type": "application/json"}
    )
    assert_problem(r, 413, "payload-too-large")


async def test_unavailable_backend_is_503_problem(backends) -> None:
    async with running_gateway(backends, tickets_addr=f"127.0.0.1:{free_port()}") as g:
        r = await g.client.get("/api/v1/tickets", headers=auth(await g.api_token()))
    body = assert_problem(r, 503, "backend-unavailable")
    assert r.headers["retry-after"] == "5"
    assert "127.0.0.1" not in body["detail"]


async def test_unknown_route_and_method(gw: Gateway) -> None:
    assert_problem(await gw.client.get("/api/v1/nope"), 404, "not-found")
    assert_problem(await gw.client.put("/api/v1/me"), 405, "method-not-allowed")


async def test_the_gateways_own_problem_words_follow_the_callers_language(gw: Gateway) -> None:
    """SPEC H5: a French caller reads the gateway's own title and generic detail in French; English stays the
    canonical text; a service's detail (INVALID_ARGUMENT) stays as the service wrote it."""
    fr = {"Accept-Language": "fr-FR,fr;q=0.9"}
    body = assert_problem(await gw.client.get("/api/v1/nope", headers=fr), 404, "not-found")
    assert body["title"] == "Page introuvable" and body["detail"].startswith("Cette page est introuvable")
    english = assert_problem(await gw.client.get("/api/v1/nope", headers={"Accept-Language": "en"}), 404, "not-found")
    assert english["title"] == "Not found"
    token = await gw.api_token()
    r = await gw.client.post(
        "/api/v1/tickets",
        json={"subject": "s", "description": "d", "priority": "bogus"},
        headers={**auth(token), **fr},
    )
    body = assert_problem(r, 400, "invalid-request")
    assert body["title"] == "La requête est incorrecte" and body["detail"] == "priority: unknown priority"


async def test_openapi_description(gw: Gateway) -> None:
    spec = (await gw.client.get("/api/v1/openapi.json")).json()
    staff_identity = {p for p in spec["paths"] if p.startswith("/api/v1/staff/")}
    assert {"/api/v1/staff/sessions", "/api/v1/staff/permission-groups", "/api/v1/staff/settings"} <= staff_identity
    assert {
        "/api/v1/staff/customers/{customer_id}/billing-settings",
        "/api/v1/staff/invoices",
        "/api/v1/staff/invoices/{invoice_id}",
        "/api/v1/staff/estimates",
        "/api/v1/staff/estimates/{estimate_id}",
        "/api/v1/staff/customers/{customer_id}/store-credit",
    } <= staff_identity
    assert {
        "/api/v1/staff/tickets",
        "/api/v1/staff/tickets/{ticket_id}",
        "/api/v1/staff/tickets/{ticket_id}/comments",
        "/api/v1/staff/tickets/{ticket_id}/assignee",
        "/api/v1/staff/tickets/{ticket_id}/status",
    } <= staff_identity
    # Staff accounts (SPEC S1): the invite takes an Idempotency-Key.
    team = spec["paths"]["/api/v1/staff/staff-users"]
    assert {"get", "post"} <= set(team) and team["post"]["summary"] == "Invite a staff member (admins only)"
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in team["post"]["parameters"])
    assert {
        "/api/v1/staff/staff-users/{staff_user_id}/role",
        "/api/v1/staff/staff-users/{staff_user_id}/active",
        "/api/v1/staff/staff-users/{staff_user_id}/mfa",
        "/api/v1/staff/staff-users/{staff_user_id}/invitation",
    } <= staff_identity
    # Identity's customer settings are the one source of tax and terms: billing's copy is read only.
    assert set(spec["paths"]["/api/v1/staff/customers/{customer_id}/billing-settings"]) == {"get"}
    invoices = spec["paths"]["/api/v1/staff/invoices"]
    assert {"get", "post"} <= set(invoices) and {"200", "201"} <= set(invoices["post"]["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in invoices["post"]["parameters"])
    assert set(spec["paths"]) - staff_identity == {
        "/api/v1/sessions",
        "/api/v1/sessions/current",
        "/api/v1/sessions/current/mfa",
        "/api/v1/sessions/current/mfa/enrolment",
        "/api/v1/sessions/current/mfa/enrolment/confirm",
        "/api/v1/me",
        "/api/v1/home",
        "/api/v1/tickets",
        "/api/v1/tickets/{ticket_id}",
        "/api/v1/tickets/{ticket_id}/close",
        "/api/v1/tickets/{ticket_id}/comments",
        "/api/v1/tickets/{ticket_id}/pdf",
        "/api/v1/tickets/{ticket_id}/attachments",
        "/api/v1/ticket-files/{attachment_id}",
        "/api/v1/billing/overview",
        "/api/v1/invoices",
        "/api/v1/invoices/{invoice_id}",
        "/api/v1/invoices/{invoice_id}/pdf",
        "/api/v1/payments",
        "/api/v1/payments/proposal",
        "/api/v1/payments/pending",
        "/api/v1/payments/{payment_id}/check",
        "/api/v1/payment-profiles",
        "/api/v1/payment-profiles/{profile_id}",
        "/api/v1/estimates",
        "/api/v1/estimates/{estimate_id}",
        "/api/v1/estimates/{estimate_id}/pdf",
        "/api/v1/estimates/{estimate_id}/decision",
        # Stripe's webhook, documented for the operator who registers it at Stripe (no session: signed).
        "/webhooks/stripe",
        "/api/v1/kb/articles",
        "/api/v1/kb/articles/{article_id}",
        "/api/v1/search",
        "/api/v1/announcements",
        "/api/v1/tickets/charts",
        "/api/v1/assets",
        "/api/v1/assets/{asset_id}",
        "/api/v1/sites",
        "/api/v1/sites/{site_id}",
        # Customer documents (SPEC A4).
        "/api/v1/documents",
        "/api/v1/documents/{document_id}/download",
        # Masked credentials (SPEC A5, X8): the password only in the reveal answer.
        "/api/v1/credentials",
        "/api/v1/credentials/{credential_id}",
        "/api/v1/credentials/{credential_id}/reveal",
        "/api/v1/credentials/{credential_id}/access",
        # Remote access and scripts (issue 14; SPEC R1-R3, X1, X2).
        "/api/v1/assets/{asset_id}/scripts",
        "/api/v1/assets/{asset_id}/script-runs",
        "/api/v1/script-runs/{run_id}",
        "/api/v1/script-runs/{run_id}/events",
        "/api/v1/assets/{asset_id}/remote-sessions",
        "/api/v1/remote-sessions/{session_id}/end",
        "/api/v1/access-requests",
        "/api/v1/access-requests/{request_id}/approve",
        "/api/v1/access-requests/{request_id}/decline",
        # The language kept on the user (H5).
        "/api/v1/me/language",
        # Web push (X7): the user's opt-in per kind and its browsers' subscriptions.
        "/api/v1/notifications/push",
        "/api/v1/notifications/push/preferences",
        "/api/v1/notifications/push/subscriptions",
        "/api/v1/notifications/push/subscriptions/{subscription_id}",
    }
    # Assets and sites (issue 13): staff create with an Idempotency-Key; import and delete are there too.
    assert {
        "/api/v1/staff/customers/{customer_id}/assets",
        "/api/v1/staff/customers/{customer_id}/assets/import",
        "/api/v1/staff/assets/{asset_id}",
        "/api/v1/staff/assets/{asset_id}/retire",
        "/api/v1/staff/customers/{customer_id}/sites",
        "/api/v1/staff/sites/{site_id}",
    } <= staff_identity
    new_asset = spec["paths"]["/api/v1/staff/customers/{customer_id}/assets"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in new_asset["parameters"])
    assert set(spec["paths"]["/api/v1/assets/{asset_id}"]) == {"get", "patch"}
    documents = spec["paths"]["/api/v1/documents"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in documents["post"]["parameters"])
    assert {
        "/api/v1/staff/customers/{customer_id}/documents",
        "/api/v1/staff/documents/{document_id}/download",
        "/api/v1/staff/documents/{document_id}/visibility",
        "/api/v1/staff/documents/{document_id}",
    } <= staff_identity
    credentials = {p for p in staff_identity if "credential" in p}
    assert credentials == {
        "/api/v1/staff/credentials",
        "/api/v1/staff/credentials/{credential_id}",
        "/api/v1/staff/credentials/{credential_id}/reveal",
        "/api/v1/staff/credentials/{credential_id}/access",
        "/api/v1/staff/credential-access",
        "/api/v1/staff/credential-access.csv",
    }
    listed = spec["paths"]["/api/v1/credentials"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "password" not in spec["components"]["schemas"]["Credential"]["properties"] and listed
    new = spec["paths"]["/api/v1/staff/credentials"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in new["parameters"])
    assert "session" in spec["components"]["securitySchemes"]
    webhook = spec["paths"]["/webhooks/stripe"]["post"]
    assert {"200", "400", "404"} <= set(webhook["responses"]) and "security" not in webhook
    assert (await gw.client.get("/api/v1/docs")).status_code == 200


async def test_the_docs_page_is_served_from_the_project_with_no_inline_script(gw: Gateway) -> None:
    """Swagger UI is vendored (issue 15): the page names no other origin, runs no inline script, and its CSP
    allows neither a CDN nor 'unsafe-inline'; the files it names are served."""
    r = await gw.client.get("/api/v1/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "http" not in csp and "script-src" not in csp
    assert "cdn." not in r.text and "//" not in r.text.replace("<!doctype html>", "")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
        assert (await gw.client.get(path)).status_code == 200, path
    assert 'data-openapi-url="/api/v1/openapi.json"' in r.text
    assert "/api/v1/docs" not in (await gw.client.get("/api/v1/openapi.json")).json()["paths"]


async def test_openapi_lists_bad_requests_as_400_problems_not_fastapis_422(gw: Gateway) -> None:
    spec = (await gw.client.get("/api/v1/openapi.json")).json()
    assert "HTTPValidationError" not in str(spec)
    invoices = spec["paths"]["/api/v1/invoices"]["get"]["responses"]
    assert "422" not in invoices and "application/problem+json" in invoices["400"]["content"]
    pdf = spec["paths"]["/api/v1/invoices/{invoice_id}/pdf"]["get"]["responses"]
    assert "application/pdf" in pdf["200"]["content"] and "404" in pdf
    # What the spec says is what a bad query gets.
    r = await gw.client.get("/api/v1/invoices", params={"page_size": "many"})
    assert r.status_code in (400, 401) and r.headers["content-type"].startswith("application/problem+json")


async def test_openapi_describes_search(gw: Gateway) -> None:
    spec = (await gw.client.get("/api/v1/openapi.json")).json()
    for path in ("/api/v1/search", "/api/v1/staff/search"):
        op = spec["paths"][path]["get"]
        assert op["summary"] and op["description"] and "400" in op["responses"], path
        assert {p["name"] for p in op["parameters"]} >= {"q", "kinds"}
    assert "customer_id" in {p["name"] for p in spec["paths"]["/api/v1/staff/search"]["get"]["parameters"]}
    answer = spec["components"]["schemas"]["SearchAnswer"]["properties"]
    assert {"groups", "partial", "unsearched"} <= set(answer)
