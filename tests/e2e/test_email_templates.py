"""Configurable emails end to end (SPEC P2, P3 "login details"): staff change the French password reset
template through the staff API, a user asks for a reset from the French sign-in pages, and the stack's mail
catcher receives the customised text with the HTML part escaped; the queued row holds no readable token and is
blanked once sent; unknown placeholders are 422; login details go out with their template. Templates changed
here are put back in a finally block. Also: visiting / during the MFA step goes back to that step."""

from __future__ import annotations

import re
import sqlite3

import httpx

from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import api, wait_for_mails

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def anonymous_form(client: httpx.Client, path: str, extra_cookies: str = "") -> tuple[str, dict[str, str]]:
    """The CSRF token of a pre-sign-in form and the Cookie header carrying its nonce (the cookie is Secure, so
    httpx would not send it back over http on its own)."""
    page = client.get(path, headers={"Cookie": extra_cookies} if extra_cookies else {})
    nonce = page.cookies.get("portal_csrf")
    cookie = "; ".join(c for c in (f"portal_csrf={nonce}", extra_cookies) if c)
    return _CSRF.search(page.text).group(1), {"Cookie": cookie}


def staff_api(stack) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


def test_staff_edit_a_template_and_the_reset_email_uses_it(stack):  # noqa: ANN001
    user = new_portal_user(stack)
    with staff_api(stack) as staff:
        listed = staff.get("/api/v1/staff/email-templates").json()
        assert {(t["name"], t["language"]) for t in listed} == {
            (n, lang)
            for n in ("invitation", "password_reset", "login_details", "payment_receipt")
            for lang in ("en", "fr")
        }
        bad = staff.put(
            "/api/v1/staff/email-templates/password_reset/fr",
            json={"subject": "Réinitialisation", "body": "Votre mot de passe : {{ password }}"},
        )
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["detail"].startswith("body: unknown placeholder {{ password }}"), bad.text
        assert bad.json()["errors"][0]["field"] == "body"
        syntax = staff.put(
            "/api/v1/staff/email-templates/password_reset/fr", json={"subject": "x", "body": "{% if link %}"}
        )
        assert syntax.status_code == 422 and syntax.json()["detail"].startswith("body: line 1: ")
        assert staff.put("/api/v1/staff/email-templates/nope/fr", json={"subject": "x", "body": "y"}).status_code == 400
        assert (
            staff.put("/api/v1/staff/email-templates/invitation/de", json={"subject": "x", "body": "y"}).status_code
            == 400
        )
        try:
            saved = staff.put(
                "/api/v1/staff/email-templates/password_reset/fr",
                json={
                    "subject": "Mot de passe du portail de {{ customer_name }}",
                    "body": "Bonjour,\n\nPour {{ customer_name }} : ouvrez {{ link }} (valable {{ minutes }} min).\n",
                },
            )
            assert saved.status_code == 200 and saved.json()["customised"] is True, saved.text

            with httpx.Client(base_url=stack.gateway_url, timeout=15) as browser:
                token, headers = anonymous_form(browser, "/forgot", "lang=fr")
                sent = browser.post("/forgot", data={"login": user.login, "csrf_token": token}, headers=headers)
                assert sent.status_code == 200 and 'id="forgot-sent"' in sent.text
            [mail] = wait_for_mails(
                stack, lambda m: user.login in m["rcpt_to"] and "Mot de passe du portail" in m["subject"]
            )
            assert mail["subject"] == "Mot de passe du portail de Acme Dental"
            link = re.search(r"(http\S+/reset\?token=\S+)", mail["text"]).group(1)
            assert "Pour Acme Dental : ouvrez" in mail["text"] and "(valable 30 min)" in mail["text"]
            assert "<p>Bonjour,</p>" in mail.get("html", "")
            reset = httpx.get(stack.gateway_url + "/reset?" + link.split("?", 1)[1], timeout=15)
            assert reset.status_code == 200 and 'name="token"' in reset.text

            # At rest: the queued row was sealed and is blank now that it has gone out.
            with sqlite3.connect(stack.var_dir / "identity.db") as db:
                rows = db.execute(
                    "SELECT sealed, body, sent_at FROM outbound_emails WHERE recipient = ? AND template = ?",
                    (user.login, "password_reset"),
                ).fetchall()
            assert rows and all(sealed == 1 and body == "" and sent for sealed, body, sent in rows)

            r = staff.post(f"/api/v1/staff/portal-users/{user.id}/login-details", json={"language": "fr"})
            assert r.status_code == 204, r.text
            [details] = wait_for_mails(
                stack, lambda m: user.login in m["rcpt_to"] and m["subject"] == "Vos identifiants du portail"
            )
            assert f"Identifiant : {user.login}" in details["text"] and "/signin" in details["text"]
            assert "token" not in details["text"]
            assert staff.post("/api/v1/staff/portal-users/nope/login-details", json={}).status_code == 404
        finally:
            restored = staff.delete("/api/v1/staff/email-templates/password_reset/fr")
            assert restored.status_code == 200 and restored.json()["customised"] is False
    with api(stack) as portal:
        assert portal.get("/api/v1/staff/email-templates").status_code == 401


def test_home_during_the_mfa_step_goes_back_to_that_step(stack):  # noqa: ANN001
    user = new_portal_user(stack, require_mfa=True)
    with httpx.Client(base_url=stack.gateway_url, timeout=15, follow_redirects=False) as browser:
        token, headers = anonymous_form(browser, "/signin")
        signed = browser.post(
            "/signin", data={"login": user.login, "password": user.password, "csrf_token": token}, headers=headers
        )
        assert signed.status_code == 303 and signed.headers["location"].startswith("/mfa/enrol")
        session = {"Cookie": f"portal_session={signed.cookies.get('portal_session')}"}
        home = browser.get("/", headers=session)
        assert home.status_code == 303 and home.headers["location"] == "/mfa/enrol"
        assert "portal_session" not in home.headers.get("set-cookie", ""), "the cookie is kept"
        deep = browser.get("/tickets", headers=session)
        assert deep.headers["location"] == "/mfa/enrol?next=/tickets"
        assert browser.get("/mfa/enrol", headers=session).status_code == 200
