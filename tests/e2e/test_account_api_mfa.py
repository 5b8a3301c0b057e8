"""Issue 3 (SPEC P4) through the JSON API: an account that must use MFA signs in in two steps, and its session
token opens nothing until the second step is done — enrolment, a code, a replayed code, a wrong code."""

from __future__ import annotations

import time

import httpx
import pyotp

from tests.e2e.account_helpers import new_portal_user


def _sign_in(c: httpx.Client, login: str, password: str) -> dict:
    r = c.post("/api/v1/sessions", json={"login": login, "password": password})
    assert r.status_code == 201, r.text
    return r.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_enrols_then_asks_for_a_code_and_the_token_opens_nothing_before(stack) -> None:  # noqa: ANN001
    user = new_portal_user(stack, require_mfa=True)
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as c:
        first = _sign_in(c, user.login, user.password)
        assert first["next_step"] == "mfa_enrol"
        token = first["session_token"]
        assert c.get("/api/v1/me", headers=_bearer(token)).status_code == 401, "no access before the second factor"

        started = c.post("/api/v1/sessions/current/mfa/enrolment", headers=_bearer(token))
        assert started.status_code == 200, started.text
        totp = pyotp.TOTP(started.json()["secret"])
        assert started.json()["otpauth_uri"].startswith("otpauth://totp/")

        wrong = c.post(
            "/api/v1/sessions/current/mfa/enrolment/confirm", json={"code": "000000"}, headers=_bearer(token)
        )
        assert wrong.status_code == 400 and wrong.headers["content-type"].startswith("application/problem+json")
        used = totp.now()
        done = c.post("/api/v1/sessions/current/mfa/enrolment/confirm", json={"code": used}, headers=_bearer(token))
        assert done.status_code == 200, done.text
        assert len(done.json()["recovery_codes"]) == 10
        assert c.get("/api/v1/me", headers=_bearer(token)).status_code == 200

        # The next sign-in asks for a code; the one enrolment used cannot be used again.
        second = _sign_in(c, user.login, user.password)
        assert second["next_step"] == "mfa_code"
        token2 = second["session_token"]
        assert c.get("/api/v1/home", headers=_bearer(token2)).status_code == 401
        replay = c.post("/api/v1/sessions/current/mfa", json={"code": used}, headers=_bearer(token2))
        assert replay.status_code == 400, "a TOTP code works once"
        code = totp.at(time.time() + 30)  # the next time step: identity allows one step of clock drift
        ok = c.post("/api/v1/sessions/current/mfa", json={"code": code}, headers=_bearer(token2))
        assert ok.status_code == 200, ok.text
        assert c.get("/api/v1/me", headers=_bearer(token2)).json()["kind"]

        # A finished session is not waiting for a second factor any more.
        again = c.post("/api/v1/sessions/current/mfa", json={"code": totp.now()}, headers=_bearer(token2))
        assert again.status_code == 401
        # No code, or an empty one, is a clear 400 and not a crash.
        empty = c.post("/api/v1/sessions/current/mfa", json={"code": "  "}, headers=_bearer(token2))
        assert empty.status_code == 400 and "code" in empty.text


def test_an_account_without_mfa_is_done_in_one_step(stack) -> None:  # noqa: ANN001
    user = new_portal_user(stack)
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as c:
        signed = _sign_in(c, user.login, user.password)
        assert signed["next_step"] == "done"
        assert c.get("/api/v1/me", headers=_bearer(signed["session_token"])).status_code == 200
