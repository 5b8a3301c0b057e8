# ruff: noqa: S105 - the passwords here are the test data of masked credentials
"""Masked credentials end to end (SPEC A5, X8), on the running stack, through the product's own APIs and pages.

THE marker test: a credential whose password is a unique marker is created through the staff API and revealed; the
marker must then be absent from a dump of the assets database (every table), from every process's log, from every
event published on NATS during the test, from every list/get JSON answer and from the credential pages' HTML before
the reveal — while the reveal answers do carry it (so the checks can fail). Around it: who may see and reveal what,
the access log a customer reads, the Credential Access Report and its CSV, bad input."""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3

import httpx
import nats

from tests.e2e.helpers import ACME, BLUE, api_sign_in

PROBE_AGENT = "CredentialProbe/1.0 (marker test)"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def _staff_token(c: httpx.AsyncClient, stack) -> str:  # noqa: ANN001
    r = await c.post(
        "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
    )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": PROBE_AGENT}


def _dump_assets_db(stack) -> str:  # noqa: ANN001
    """Every table of the assets database as SQL text (BLOBs as hex), like sqlite3's .dump."""
    conn = sqlite3.connect(f"file:{stack.var_dir / 'assets.db'}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def _all_logs(stack) -> str:  # noqa: ANN001
    return "\n".join(p.read_text("utf-8", errors="replace") for p in sorted(stack.logs_dir.glob("*.log")))


async def _new_credential(c: httpx.AsyncClient, staff: str, customer_id: str, **body: object) -> dict:
    r = await c.post(
        "/api/v1/staff/credentials",
        json={"customer_id": customer_id, "name": "Router", "password": "pw", "public": True, **body},
        headers={**_bearer(staff), "Idempotency-Key": secrets.token_urlsafe(18)},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_password_appears_only_in_reveal_answers(stack) -> None:  # noqa: ANN001
    marker = f"MARKER-{secrets.token_hex(12)}"
    events: list[bytes] = []
    nc = await nats.connect(stack.nats_url)

    async def on_event(msg) -> None:  # noqa: ANN001
        events.append(msg.subject.encode() + b"\n" + repr(msg.headers).encode() + b"\n" + msg.data)

    sub = await nc.subscribe("portal.>", cb=on_event)
    seen: list[str] = []  # every list/get answer and page before the reveal
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=20) as c:
            staff = await _staff_token(c, stack)
            alice = api_sign_in(stack, ACME.login, ACME.password)
            acme_id = (await c.get("/api/v1/me", headers=_bearer(alice))).json()["customer_id"]
            body = {"name": f"Firewall {marker[-6:]}", "username": "fw-admin", "url": "https://fw.acme.test"}
            cred = await _new_credential(c, staff, acme_id, password=marker, notes="Rack 2", **body)
            seen.append(str(cred))

            for path, token in (
                (f"/api/v1/staff/credentials?customer_id={acme_id}", staff),
                (f"/api/v1/staff/credentials/{cred['id']}", staff),
                ("/api/v1/credentials", alice),
                (f"/api/v1/credentials/{cred['id']}", alice),
            ):
                r = await c.get(path, headers=_bearer(token))
                assert r.status_code == 200, (path, r.text)
                seen.append(r.text)
            assert any(
                x["id"] == cred["id"]
                for x in (await c.get("/api/v1/credentials", headers=_bearer(alice))).json()["items"]
            )

            portal = {"Cookie": f"portal_session={alice}", "User-Agent": PROBE_AGENT}
            staff_pages = {"Cookie": f"staff_session={staff}", "User-Agent": PROBE_AGENT}
            for path, headers in (
                ("/credentials", portal),
                (f"/credentials/{cred['id']}", portal),
                (f"/staff/customers/{acme_id}", staff_pages),
                (f"/staff/credentials/{cred['id']}", staff_pages),
            ):
                r = await c.get(path, headers=headers)
                assert r.status_code == 200 and cred["name"] in r.text, (path, r.status_code)
                assert "••••" in r.text, path
                seen.append(r.text)
            for text in seen:
                assert marker not in text

            # The reveals: the JSON API, the portal page's form (no JavaScript), the staff API.
            shown = await c.post(f"/api/v1/credentials/{cred['id']}/reveal", headers=_bearer(alice))
            assert shown.status_code == 200 and shown.json()["password"] == marker
            assert "no-store" in shown.headers["cache-control"]
            page = await c.get(f"/credentials/{cred['id']}", headers=portal)
            revealed = await c.post(
                f"/credentials/{cred['id']}/reveal", data={"csrf_token": _csrf(page.text)}, headers=portal
            )
            assert revealed.status_code == 200 and marker in revealed.text
            assert revealed.headers["cache-control"] == "no-store"
            again = await c.get(f"/credentials/{cred['id']}", headers=portal)
            assert marker not in again.text  # shown once: reloading hides it
            staff_shown = await c.post(f"/api/v1/staff/credentials/{cred['id']}/reveal", headers=_bearer(staff))
            assert staff_shown.json()["password"] == marker

            # The access log: the customer sees who and when; staff also see from where.
            log = (await c.get(f"/api/v1/credentials/{cred['id']}/access", headers=_bearer(alice))).json()["items"]
            assert [e["principal_kind"] for e in log] == ["staff", "portal_user", "portal_user"]
            assert all(e["client_address"] == "" and e["user_agent"] == "" for e in log)
            assert all(e["principal_name"] and e["principal_id"] for e in log)
            report = await c.get(f"/api/v1/staff/credential-access?customer_id={acme_id}", headers=_bearer(staff))
            mine = [e for e in report.json()["items"] if e["credential_id"] == cred["id"]]
            assert len(mine) == 3 and {e["user_agent"] for e in mine} == {PROBE_AGENT}
            assert all(e["client_address"] for e in mine)
            csv = await c.get(f"/api/v1/staff/credential-access.csv?customer_id={acme_id}", headers=_bearer(staff))
            assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
            assert cred["id"] in csv.text and marker not in csv.text
            seen += [log.__repr__(), report.text, csv.text]

        for _ in range(100):  # the relay publishes within about a second
            if sum(b"credential_revealed" in e for e in events) >= 3:
                break
            await asyncio.sleep(0.1)
    finally:
        await sub.unsubscribe()
        await nc.close()

    assert sum(b"portal.assets.credential_revealed.v1" in e for e in events) >= 3, [e[:60] for e in events]
    for e in events:
        assert marker.encode() not in e
    for text in seen:
        assert marker not in text
    dump = _dump_assets_db(stack)
    assert cred["id"] in dump and "credential_access" in dump and "outbox" in dump
    assert marker not in dump and marker.encode().hex() not in dump.lower()
    logs = _all_logs(stack)
    assert "assets" in logs and marker not in logs


async def test_who_may_see_and_reveal(stack) -> None:  # noqa: ANN001
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=20) as c:
        staff = await _staff_token(c, stack)
        alice = api_sign_in(stack, ACME.login, ACME.password)
        bob = api_sign_in(stack, BLUE.login, BLUE.password)
        acme_id = (await c.get("/api/v1/me", headers=_bearer(alice))).json()["customer_id"]
        public = await _new_credential(c, staff, acme_id, name="Acme shared")
        private = await _new_credential(c, staff, acme_id, name="Acme internal", public=False)

        listed = {x["id"] for x in (await c.get("/api/v1/credentials", headers=_bearer(alice))).json()["items"]}
        assert public["id"] in listed and private["id"] not in listed
        for token, cred in ((alice, private), (bob, public), (bob, private)):
            for method, path in (
                ("GET", f"/api/v1/credentials/{cred['id']}"),
                ("POST", f"/api/v1/credentials/{cred['id']}/reveal"),
                ("GET", f"/api/v1/credentials/{cred['id']}/access"),
            ):
                r = await c.request(method, path, headers=_bearer(token))
                assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", path
            r = await c.get(f"/credentials/{cred['id']}", headers={"Cookie": f"portal_session={token}"})
            assert r.status_code == 404
        # Customer tokens never reach the staff API.
        for method, path in (
            ("GET", "/api/v1/staff/credentials"),
            ("POST", f"/api/v1/staff/credentials/{public['id']}/reveal"),
            ("DELETE", f"/api/v1/staff/credentials/{public['id']}"),
            ("GET", "/api/v1/staff/credential-access"),
            ("GET", "/api/v1/staff/credential-access.csv"),
        ):
            assert (await c.request(method, path, headers=_bearer(alice))).status_code == 403, path
        # Staff edit, keep the password, replace it, delete; the reveals stay in the report.
        r = await c.put(
            f"/api/v1/staff/credentials/{public['id']}",
            json={"name": "Acme shared (edited)", "public": True},
            headers=_bearer(staff),
        )
        assert r.status_code == 200 and r.json()["name"] == "Acme shared (edited)"
        shown = await c.post(f"/api/v1/credentials/{public['id']}/reveal", headers=_bearer(alice))
        assert shown.json()["password"] == "pw"
        await c.put(
            f"/api/v1/staff/credentials/{public['id']}",
            json={"name": "Acme shared", "public": True, "password": "new-pw"},
            headers=_bearer(staff),
        )
        assert (await c.post(f"/api/v1/credentials/{public['id']}/reveal", headers=_bearer(alice))).json()[
            "password"
        ] == "new-pw"
        assert (await c.delete(f"/api/v1/staff/credentials/{public['id']}", headers=_bearer(staff))).status_code == 204
        assert (await c.get(f"/api/v1/credentials/{public['id']}", headers=_bearer(alice))).status_code == 404
        report = await c.get(f"/api/v1/staff/credential-access?customer_id={acme_id}", headers=_bearer(staff))
        assert sum(e["credential_id"] == public["id"] for e in report.json()["items"]) == 2


async def test_bad_input_is_a_problem_not_a_crash(stack) -> None:  # noqa: ANN001
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=20) as c:
        staff = await _staff_token(c, stack)
        alice = api_sign_in(stack, ACME.login, ACME.password)
        acme_id = (await c.get("/api/v1/me", headers=_bearer(alice))).json()["customer_id"]
        key = {"Idempotency-Key": secrets.token_urlsafe(18)}
        cases = [
            ({"customer_id": acme_id, "name": "", "password": "x"}, key),
            ({"customer_id": acme_id, "name": "x", "password": "x" * 1001}, key),
            ({"customer_id": acme_id, "name": "x", "password": "x", "contact_id": "not an id!"}, key),
            ({"customer_id": acme_id, "name": "x", "password": "x"}, {"Idempotency-Key": "short"}),
            ({"customer_id": acme_id, "name": "x", "password": "x", "extra": 1}, key),
        ]
        for body, headers in cases:
            r = await c.post("/api/v1/staff/credentials", json=body, headers={**_bearer(staff), **headers})
            assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", (body, r.text)
        r = await c.get("/api/v1/staff/credential-access?since=yesterday", headers=_bearer(staff))
        assert r.status_code == 400
        r = await c.get("/api/v1/credentials?cursor=!!", headers=_bearer(alice))
        assert r.status_code == 400
        r = await c.get("/api/v1/credentials?cursor=bm90IGEgY3Vyc29y", headers=_bearer(alice))
        assert r.status_code == 400 and "cursor" in r.json()["detail"]
        # A retried create with the same key makes one credential.
        body = {"customer_id": acme_id, "name": "Once", "password": "x"}
        first = await c.post("/api/v1/staff/credentials", json=body, headers={**_bearer(staff), **key})
        second = await c.post("/api/v1/staff/credentials", json=body, headers={**_bearer(staff), **key})
        assert first.status_code == second.status_code == 201 and first.json()["id"] == second.json()["id"]
        # The staff page form refuses an empty name with a message and keeps what was typed, never the password.
        staff_pages = {"Cookie": f"staff_session={staff}"}
        page = await c.get(f"/staff/customers/{acme_id}", headers=staff_pages)
        form = {
            "csrf_token": _csrf(page.text),
            "idempotency_key": secrets.token_urlsafe(18),
            "name": "",
            "username": "kept-user",
            "password": "typed-secret-123",
        }
        r = await c.post(f"/staff/customers/{acme_id}/credentials", data=form, headers=staff_pages)
        assert r.status_code == 400 and "kept-user" in r.text and "typed-secret-123" not in r.text
