"""Issue 12: customer tokens against every staff route — every method, every page and API route under the staff
prefixes, path parameters filled — are refused. A portal admin of a customer (all permissions) gets 403 from the
staff API (problem+json) and from a staff page reached with its token in the staff cookie; the portal's own cookie
and no cookie get the staff sign-in; no bearer gets 401. The routes come from the app itself, so a staff route
added later is covered without being listed; only the staff sign-in steps that come before a session are left out
(they are PUBLIC in the routes_*.py files). A staff WebSocket (the staff terminal) is refused at the upgrade to the
same tokens."""

from __future__ import annotations

import re

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from servicekit.permissions import CATALOGUE
from tests.authz.harness import all_public, all_staff_prefixes
from tests.authz.test_coverage import gateway_routes, gateway_websockets
from tests.authz.world import AuthzWorld

STAFF_ROUTES = sorted(
    (method, path)
    for method, path in gateway_routes()
    if any(path == p or path.startswith(p + "/") for p in all_staff_prefixes())
    and (method, path) not in all_public()
    and not path.startswith(("/api/v1/staff/sessions", "/staff/signin", "/staff/signout"))
    and path not in gateway_websockets()
)
SOCKETS = sorted(p for p in gateway_websockets() if any(p.startswith(x + "/") for x in all_staff_prefixes()))
API = [(m, p) for m, p in STAFF_ROUTES if p.startswith("/api/")]
PAGES = [(m, p) for m, p in STAFF_ROUTES if not p.startswith("/api/")]
ANY_ID = "00000000-0000-0000-0000-000000000000"


def _concrete(path: str, customer_id: str) -> str:
    return re.sub(r"\{[a-z_]+\}", ANY_ID, path.replace("{customer_id}", customer_id))


def test_there_are_staff_routes_of_every_area() -> None:
    paths = {p for _, p in STAFF_ROUTES}
    for expected in ("/staff/tickets", "/staff/customers", "/staff/groups", "/staff/audit", "/staff/team"):
        assert expected in paths, expected
    for expected in (
        "/api/v1/staff/scripts",
        "/api/v1/staff/agents",
        "/api/v1/staff/access-requests",
        "/staff/scripts",
    ):
        assert expected in paths, expected
    assert any(p.startswith("/api/v1/staff/invoices") for p in paths) and len(API) > 40 and len(PAGES) > 30
    assert SOCKETS, "the staff terminal's WebSocket"


@pytest.mark.parametrize(("method", "path"), API, ids=[f"{m} {p}" for m, p in API])
def test_the_staff_api_refuses_a_portal_admin_and_no_session(authz_world: AuthzWorld, method: str, path: str) -> None:
    acme = authz_world.customers["acme"]
    url = _concrete(path, acme.id)
    admin = authz_world.session(acme, frozenset(CATALOGUE))
    for token, expected in ((admin, 403), (None, 401)):
        with authz_world.http(token, page=False) as client:
            r = client.request(method, url, json={}, headers={"Idempotency-Key": "authz-staff-routes-0001"})
        assert r.status_code == expected, f"{method} {url}: {r.status_code} {r.text[:200]}"
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "path"), PAGES, ids=[f"{m} {p}" for m, p in PAGES])
def test_the_staff_pages_refuse_a_portal_admin(authz_world: AuthzWorld, method: str, path: str) -> None:
    acme = authz_world.customers["acme"]
    url = _concrete(path, acme.id)
    admin = authz_world.session(acme, frozenset(CATALOGUE))
    with authz_world.http(None, page=True) as client:
        r = client.request(method, url, headers={"Cookie": f"staff_session={admin}"}, data={"x": "1"})
    assert r.status_code == 403, f"{method} {url}: {r.status_code}"
    for cookie in (f"portal_session={admin}", ""):
        with authz_world.http(None, page=True) as client:
            r = client.request(method, url, headers={"Cookie": cookie} if cookie else {}, data={"x": "1"})
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/signin"), f"{method} {url}"


@pytest.mark.parametrize("path", SOCKETS)
def test_the_staff_websockets_refuse_a_portal_admin(authz_world: AuthzWorld, path: str) -> None:
    """With the portal admin's token in the staff cookie, in the portal cookie, or none: refused at the upgrade."""
    acme = authz_world.customers["acme"]
    admin = authz_world.session(acme, frozenset(CATALOGUE))
    url = authz_world.stack.gateway_url.replace("http", "ws", 1) + _concrete(path, acme.id)
    for cookie in (f"staff_session={admin}", f"portal_session={admin}", ""):
        headers = {"Cookie": cookie} if cookie else {}
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin=authz_world.stack.gateway_url, additional_headers=headers, open_timeout=10, proxy=None)
        assert refused.value.response.status_code == 403, f"{path} with {cookie.split('=')[0] or 'no cookie'}"
