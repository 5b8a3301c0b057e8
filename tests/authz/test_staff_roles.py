"""Staff roles × routes (SPEC S1): a technician is refused every admin-only staff route (403, decided by identity on
its principal, not by the page), an admin is let through, and both open what a technician's work needs. A portal
session never opens any of them (test_coverage, by prefix). The technician is invited by the admin and accepts with
the emailed link, through the product's own API."""

from __future__ import annotations

import re
import secrets
import uuid

import grpc
import httpx
import pytest

from portal.identity.v1 import identity_pb2
from portal_testkit.tls import TLS
from tests.authz.harness import all_staff_prefixes
from tests.authz.routes_staff_team import ADMIN, STAFF_ROLE_ROUTES, TECHNICIAN
from tests.authz.test_coverage import gateway_routes
from tests.authz.world import DEADLINE, AuthzWorld
from tests.e2e.helpers import wait_for_mails

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class StaffUsers:
    """An admin (the stack's bootstrap account) and a technician it invited, each with an API and a page session."""

    def __init__(self, world: AuthzWorld) -> None:
        self.world = world
        stack = world.stack
        self.admin = self._session(stack.config.staff_email, stack.config.staff_password)
        tag = uuid.uuid4().hex[:8]
        email, password = f"authz-tech-{tag}@example.test", f"authz-tech-{tag}-pw"
        with self.client(self.admin, page=False) as c:
            r = c.post(
                "/api/v1/staff/staff-users",
                json={"email": email, "name": "Authz Tech", "role": TECHNICIAN},
                headers={"Idempotency-Key": secrets.token_hex(12)},
            )
            assert r.status_code == 201, r.text
        mail = wait_for_mails(stack, lambda m: email in m["rcpt_to"], 1)[0]
        token = re.search(r"/staff/invitation\?token=(\S+)", mail["text"]).group(1)
        world.identity.AcceptStaffInvitation(
            identity_pb2.AcceptStaffInvitationRequest(token=token, new_password=password), timeout=DEADLINE
        )
        self.technician = self._session(email, password)

    def _session(self, login: str, password: str) -> str:
        req = identity_pb2.SignInRequest(
            login=login, password=password, audience=identity_pb2.AUDIENCE_STAFF, client_address="127.0.0.1"
        )
        return self.world.identity.SignIn(req, timeout=DEADLINE).session_token

    def client(self, session: str, *, page: bool) -> httpx.Client:
        headers = {"Cookie": f"staff_session={session}"} if page else {"Authorization": f"Bearer {session}"}
        return httpx.Client(base_url=self.world.stack.gateway_url, headers=headers, timeout=DEADLINE, verify=TLS)

    def member(self) -> str:
        """A fresh invited staff member for a route to act on."""
        tag = uuid.uuid4().hex[:8]
        with self.client(self.admin, page=False) as c:
            r = c.post(
                "/api/v1/staff/staff-users",
                json={"email": f"authz-member-{tag}@example.test", "role": TECHNICIAN},
                headers={"Idempotency-Key": secrets.token_hex(12)},
            )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def group(self) -> str:
        with self.client(self.admin, page=False) as c:
            r = c.post("/api/v1/staff/permission-groups", json={"name": f"Authz spare {uuid.uuid4().hex[:8]}"})
        assert r.status_code == 201, r.text
        return r.json()["id"]


@pytest.fixture(scope="module")
def staff_users(authz_world: AuthzWorld) -> StaffUsers:
    return StaffUsers(authz_world)


def _request(staff: StaffUsers, session: str, method: str, path: str, body: dict | None, form: dict | None):  # noqa: ANN202
    url = path.replace("{id}", staff.member() if "{id}" in path else "")
    url = url.replace("{customer}", next(iter(staff.world.customers.values())).id)
    url = url.replace("{group}", staff.group() if "{group}" in url else "")
    customer = next(iter(staff.world.customers.values())).id  # a demo customer, for the billing writes
    tag = uuid.uuid4().hex[:8]

    def fill(values: dict) -> dict:
        return {
            k: v.replace("{email}", f"authz-new-{tag}@example.test")
            .replace("{name}", f"Authz {tag}")
            .replace("{customer}", customer)
            if isinstance(v, str)
            else v
            for k, v in values.items()
        }

    page = not path.startswith("/api/")
    with staff.client(session, page=page) as c:
        if form is not None:
            data = fill(form)
            # Every staff page carries the session's CSRF token; the queue is open to both roles.
            data["csrf_token"] = _CSRF.search(c.get("/staff/tickets").text).group(1)
            return c.request(method, url, data=data, follow_redirects=False)
        headers = {"Idempotency-Key": secrets.token_hex(12)} if method == "POST" else {}
        return c.request(method, url, json=fill(body) if body is not None else None, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "roles", "body", "form"),
    STAFF_ROLE_ROUTES,
    ids=[f"{m} {p}" for m, p, *_ in STAFF_ROLE_ROUTES],
)
def test_staff_role(staff_users: StaffUsers, method: str, path: str, roles: tuple, body, form) -> None:  # noqa: ANN001
    tech = _request(staff_users, staff_users.technician, method, path, body, form)
    if TECHNICIAN in roles:
        assert tech.status_code in (200, 201, 204, 303), f"technician {method} {path}: {tech.status_code}"
    else:
        assert tech.status_code == 403, f"technician {method} {path}: {tech.status_code} {tech.text[:300]}"
    admin = _request(staff_users, staff_users.admin, method, path, body, form)
    assert ADMIN in roles
    assert admin.status_code in (200, 201, 204, 303), f"admin {method} {path}: {admin.status_code} {admin.text[:300]}"


def test_every_team_route_is_in_the_role_matrix() -> None:
    listed = {(m, p) for m, p, *_ in STAFF_ROLE_ROUTES}
    team = {
        (m, p.replace("{staff_user_id}", "{id}"))
        for m, p in gateway_routes()
        if p.startswith(("/api/v1/staff/staff-users", "/staff/team"))
    }
    assert team and team <= listed, f"add to STAFF_ROLE_ROUTES: {sorted(team - listed)}"
    assert all(any(p == s or p.startswith(s + "/") for s in all_staff_prefixes()) for _, p in listed)


def test_a_technician_principal_is_refused_the_admin_rpcs_over_grpc(staff_users: StaffUsers) -> None:
    md = (("authorization", f"Bearer {staff_users.world.principal_token(staff_users.technician)}"),)
    identity = staff_users.world.identity
    for call, request in (
        (identity.ListStaffUsers, identity_pb2.ListStaffUsersRequest()),
        (identity.CreatePermissionGroup, identity_pb2.CreatePermissionGroupRequest(name="Never")),
        (identity.UpdatePortalSettings, identity_pb2.UpdatePortalSettingsRequest()),
        (identity.UpdatePortalControls, identity_pb2.UpdatePortalControlsRequest()),
        (identity.UpdateHomeLayout, identity_pb2.UpdateHomeLayoutRequest(reset=True)),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            call(request, timeout=DEADLINE, metadata=md)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
