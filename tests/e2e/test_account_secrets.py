"""Issue 3: no password, reset or invitation token, session token, TOTP secret or recovery code appears in any
process's log, nor in an API answer after the one that created it."""

from __future__ import annotations

import re
import time

import grpc
import httpx
import pyotp

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import api, wait_for_mails

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_no_secret_reaches_a_log_or_a_later_answer(stack):  # noqa: ANN001
    user = new_portal_user(stack, invite=True, require_mfa=True)
    secrets_seen: list[str] = []

    invited = wait_for_mails(stack, lambda m: user.login in m["rcpt_to"] and "invited" in m["subject"])
    token = re.search(r"/invitation\?token=(\S+)", invited[0]["text"]).group(1)
    password = "secret-canary-password-7"  # noqa: S105 (a test password)
    wrong = "wrong-canary-password-9"  # noqa: S105 (a test password)
    secrets_seen += [token, password]
    with httpx.Client(base_url=stack.gateway_url, timeout=15) as c:
        form = c.get("/invitation", params={"token": token})
        csrf = _CSRF.search(form.text).group(1)
        r = c.post(
            "/invitation",
            data={"token": token, "new_password": password, "confirm_password": password, "csrf_token": csrf},
            headers={"Cookie": f"portal_csrf={form.cookies.get('portal_csrf')}"},
        )
        assert r.status_code == 303, r.text

    with grpc.insecure_channel(stack.grpc_addr("identity"), options=[("grpc.enable_http_proxy", 0)]) as ch:
        stub = identity_pb2_grpc.IdentityServiceStub(ch)
        signed = stub.SignIn(
            identity_pb2.SignInRequest(login=user.login, password=password, audience=identity_pb2.AUDIENCE_PORTAL),
            timeout=10,
        )
        begun = stub.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(session_token=signed.session_token))
        codes = stub.ConfirmMfaEnrolment(
            identity_pb2.ConfirmMfaEnrolmentRequest(
                session_token=signed.session_token, code=pyotp.TOTP(begun.secret).now()
            )
        ).recovery_codes
        secrets_seen += [signed.session_token, begun.secret, *codes]
        # A wrong password, so the failure path logs too.
        try:
            stub.SignIn(
                identity_pb2.SignInRequest(login=user.login, password=wrong, audience=identity_pb2.AUDIENCE_PORTAL),
                timeout=10,
            )
        except grpc.RpcError:
            pass
        secrets_seen.append(wrong)

    with api(stack, signed.session_token) as c:
        answers = [c.get("/api/v1/me").text, c.get("/api/v1/home").text, c.get("/").text]
    for answer in answers:
        for secret in secrets_seen:
            assert secret not in answer

    time.sleep(1.0)  # let the processes flush their logs
    checked = []
    for name in ("identity", "gateway", "tickets", "billing", "assets", "remote"):
        path = stack.log_path(name)
        if not path.exists():
            continue
        text = path.read_text("utf-8", errors="replace")
        checked.append(name)
        leaked = [s[:6] + "…" for s in secrets_seen if s in text]
        assert not leaked, f"{name}.log holds secrets: {leaked}"
    assert {"identity", "gateway"} <= set(checked), checked
