"""Every staff billing route — the console's pages (web/staff/billing.py) and the staff JSON API
(api/staff/billing.py), with path parameters and writes, which test_coverage's GET sweep does not reach — is refused
to a portal admin of the very customer it names (403; billing refuses non-staff principals itself too) and to no
session (401 for the API, a redirect to the staff sign-in for pages)."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from gateway.api.staff import billing as api_billing
from gateway.web.staff import billing as web_billing
from servicekit.permissions import CATALOGUE
from tests.authz.world import AuthzWorld


def _routes(router) -> list[tuple[str, str]]:  # noqa: ANN001
    return sorted(
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if method != "HEAD"
    )


API = _routes(api_billing.router)
PAGES = _routes(web_billing.router)


def _concrete(path: str, customer_id: str) -> str:
    path = path.replace("{customer_id}", customer_id)
    return re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000000", path)


def test_the_lists_cover_the_new_routes() -> None:
    assert ("POST", "/api/v1/staff/payments/{payment_id}/refunds") in API
    assert ("POST", "/staff/customers/{customer_id}/payments/{payment_id}/refund") in PAGES
    assert len(API) == 16 and len(PAGES) == 17


@pytest.mark.parametrize(("method", "path"), API, ids=[f"{m} {p}" for m, p in API])
def test_the_staff_billing_api_refuses_portal_users_and_anonymous_callers(
    authz_world: AuthzWorld, method: str, path: str
) -> None:
    acme = authz_world.customers["acme"]
    url = _concrete(path, acme.id)
    body = {
        "amount_minor": 100,
        "method": "cash",
        "reference": "x",
        "lines": [{"description": "x", "unit_price_minor": 1}],
    }
    admin = authz_world.session(acme, frozenset(CATALOGUE))
    for token, expected in ((admin, 403), (None, 401)):
        with authz_world.http(token, page=False) as client:
            r = client.request(method, url, json=body, headers={"Idempotency-Key": "authz-staff-billing-0001"})
        assert r.status_code == expected, f"{method} {url}: {r.status_code} {r.text[:200]}"
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "path"), PAGES, ids=[f"{m} {p}" for m, p in PAGES])
def test_the_staff_billing_pages_refuse_portal_users_and_anonymous_browsers(
    authz_world: AuthzWorld, method: str, path: str
) -> None:
    acme = authz_world.customers["acme"]
    url = _concrete(path, acme.id)
    admin = authz_world.session(acme, frozenset(CATALOGUE))
    # A portal session in the staff cookie is still a portal principal: refused before any form is read.
    with authz_world.http(None, page=True) as client:
        r = client.request(method, url, headers={"Cookie": f"staff_session={admin}"}, data={"amount": "1"})
    assert r.status_code == 403, f"{method} {url}: {r.status_code}"
    # The portal's own cookie does not open the staff console, nor does no cookie: the staff sign-in page.
    for cookie in (f"portal_session={admin}", ""):
        with authz_world.http(None, page=True) as client:
            r = client.request(method, url, headers={"Cookie": cookie} if cookie else {}, data={"amount": "1"})
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/signin"), f"{method} {url}"
