"""Issue 3 (SPEC S2, P2, P4, P5): the staff JSON API for permission groups, portal users and portal settings,
through the gateway to identity; portal sessions are refused."""

from __future__ import annotations

import secrets
import time

from servicekit import permissions as perm
from tests.e2e.account_helpers import new_portal_user
from tests.e2e.helpers import ACME, BLUE, api, api_sign_in, wait_for_mails


def _staff_token(stack) -> str:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def _acme_id(stack, token: str) -> str:  # noqa: ANN001
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        return c.get("/api/v1/me").json()["customer_id"]


def test_staff_manage_groups_and_portal_users(stack):  # noqa: ANN001
    token = _staff_token(stack)
    suffix = secrets.token_hex(3)
    with api(stack, token) as c:
        catalogue = c.get("/api/v1/staff/permissions").json()
        assert [p["label"] for p in catalogue] == list(perm.CATALOGUE.values())
        groups = c.get("/api/v1/staff/permission-groups").json()
        assert [g["name"] for g in groups[:2]] == sorted([perm.ADMIN_PORTAL_GROUP, perm.NON_PORTAL_USER_GROUP])
        built_in = groups[0]
        r = c.put(f"/api/v1/staff/permission-groups/{built_in['id']}", json={"name": "Mine", "permissions": []})
        assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")

        r = c.post(
            "/api/v1/staff/permission-groups",
            json={"name": f"Billing {suffix}", "permissions": [perm.INVOICES_VIEW_ALL, perm.INVOICES_PAY_ONLINE]},
        )
        assert r.status_code == 201, r.text
        group = r.json()
        bad = c.post("/api/v1/staff/permission-groups", json={"name": "Odd", "permissions": ["tickets.delete"]})
        assert bad.status_code == 400

        login = f"staffapi-{suffix}@acme.test"
        r = c.post(
            f"/api/v1/staff/customers/{_acme_id(stack, token)}/portal-users",
            json={"email": login, "group_name": group["name"], "require_mfa": True},
        )
        assert r.status_code == 201, r.text
        user = r.json()
        assert user["group_name"] == group["name"] and "password" not in r.text
        assert wait_for_mails(stack, lambda m: login in m["rcpt_to"] and "invited" in m["subject"])

        in_use = c.delete(f"/api/v1/staff/permission-groups/{group['id']}")
        assert in_use.status_code == 409
        moved = c.put(f"/api/v1/staff/portal-users/{user['id']}/group", json={"group_name": perm.ADMIN_PORTAL_GROUP})
        assert moved.json()["group_name"] == perm.ADMIN_PORTAL_GROUP
        assert c.delete(f"/api/v1/staff/permission-groups/{group['id']}").status_code == 204
        assert c.post(f"/api/v1/staff/portal-users/{user['id']}/invitation").status_code == 204
        assert (
            c.put(f"/api/v1/staff/portal-users/{user['id']}/require-mfa", json={"require_mfa": False}).status_code
            == 204
        )
        assert c.delete(f"/api/v1/staff/portal-users/{user['id']}/mfa").status_code == 204
        assert c.get("/api/v1/staff/portal-users/x/mfa").status_code == 405


def test_portal_sessions_and_anonymous_callers_are_refused(stack):  # noqa: ANN001
    with api(stack, api_sign_in(stack, ACME.login, ACME.password)) as c:
        assert c.get("/api/v1/staff/permission-groups").status_code == 403
        assert c.put("/api/v1/staff/settings", json={"always_invite_new_customers": True}).status_code == 403
    with api(stack) as c:
        assert c.get("/api/v1/staff/permission-groups").status_code == 401
        wrong = c.post("/api/v1/staff/sessions", json={"login": ACME.login, "password": ACME.password})
        assert wrong.status_code == 401, "a portal login is not a staff login"


def test_archiving_a_customer_signs_its_users_out_and_re_enabling_lets_them_in(stack):  # noqa: ANN001
    user = new_portal_user(stack, customer_email=BLUE.email)
    token = _staff_token(stack)
    with api(stack) as c:
        session = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}).json()
    with api(stack, session["session_token"]) as c:
        me = c.get("/api/v1/me").json()
    with api(stack, token) as c:
        r = c.put(f"/api/v1/staff/customers/{me['customer_id']}/archived", json={"archived": True})
        assert r.status_code == 200 and r.json()["archived"] is True
    try:
        with api(stack) as c:
            refused = c.post("/api/v1/sessions", json={"login": user.login, "password": user.password})
            assert refused.status_code in (401, 403), refused.text
        with api(stack, session["session_token"]) as c:
            deadline = time.monotonic() + 10
            while c.get("/api/v1/me").status_code == 200:
                assert time.monotonic() < deadline, "the archived customer's session still works"
                time.sleep(0.25)
    finally:
        with api(stack, token) as c:
            r = c.put(f"/api/v1/staff/customers/{me['customer_id']}/archived", json={"archived": False})
            assert r.json()["archived"] is False
    with api(stack) as c:
        assert c.post("/api/v1/sessions", json={"login": user.login, "password": user.password}).status_code == 201
