"""Every registered route × the permissions that open it: allowed, refused, other customer's ids 404,
and the same answers over gRPC with the user's principal token. See harness.py."""

from __future__ import annotations

import re

import grpc
import pytest

from servicekit.permissions import CATALOGUE
from tests.authz.harness import Record, Route, all_routes
from tests.authz.world import AuthzWorld

ROUTES = all_routes()
REFUSED = (403, 404)
GRPC_REFUSED = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)


def _cases() -> list:
    cases = []
    for route in ROUTES:
        if route.allowed_by is None:
            cases.append(pytest.param(route, "allowed", frozenset(), id=f"{route.key} signed-in"))
        else:
            for permission in route.allowed_by:
                granted = frozenset({permission, *route.requires})
                cases.append(pytest.param(route, "allowed", granted, id=f"{route.key} +{permission}"))
            lacking = frozenset(CATALOGUE) - set(route.allowed_by)
            cases.append(pytest.param(route, "lacking", lacking, id=f"{route.key} lacking"))
            for needed in route.requires:
                lacking = frozenset(CATALOGUE) - {needed}
                cases.append(pytest.param(route, "lacking", lacking, id=f"{route.key} lacking {needed}"))
        if route.id_param:
            cases.append(pytest.param(route, "other_customer", frozenset(CATALOGUE), id=f"{route.key} other-customer"))
        cases.append(pytest.param(route, "anonymous", frozenset(), id=f"{route.key} anonymous"))
    return cases


def _record(world: AuthzWorld, route: Route, maker: str | None = None) -> Record:
    """The probed record; with `maker` (an allowed case's session) one that user made, for make_id_as routes."""
    acme = world.customers["acme"]
    if route.make_id_as is not None and maker is not None:
        return route.make_id_as(world, acme, maker)
    if route.make_id is None:
        return ""
    if route.fresh_record:
        return route.make_id(world, acme)
    if route.key not in acme.records:
        acme.records[route.key] = route.make_id(world, acme)
    return acme.records[route.key]


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _http(world: AuthzWorld, route: Route, session: str | None, record: Record):  # noqa: ANN202
    with world.http(session, page=not route.is_api) as client:
        if route.form is None:
            return client.request(
                route.method,
                route.url(record),
                json=route.fill(route.json, record),
                files=route.files,
                headers=route.headers,
            )
        form = dict(route.fill(route.form, record) or {})
        if session:
            # Every page of a session carries the same CSRF token; the home page is open to every portal user.
            form["csrf_token"] = _CSRF.search(client.get("/").text).group(1)
        return client.request(route.method, route.url(record), data=form, files=route.files, headers=route.headers)


def _grpc(world: AuthzWorld, route: Route, session: str, record: Record) -> grpc.StatusCode:
    assert route.grpc is not None
    try:
        route.grpc(world.grpc_addr, world.principal_token(session), route.record_id(record))
    except grpc.RpcError as err:
        return err.code()  # type: ignore[attr-defined]
    return grpc.StatusCode.OK


@pytest.mark.parametrize(("route", "case", "permissions"), _cases())
def test_route(authz_world: AuthzWorld, route: Route, case: str, permissions: frozenset[str]) -> None:
    acme, blue = authz_world.customers["acme"], authz_world.customers["blueharbor"]

    if case == "anonymous":
        r = _http(authz_world, route, None, _record(authz_world, route))
        if route.is_api:
            assert r.status_code == 401, r.text
        elif route.form is not None:
            # A form post without a session has no valid CSRF token either: refused before anything else.
            assert r.status_code in (303, 403), r.text
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/signin"), r.text
        return

    owner = blue if case == "other_customer" else acme
    session = authz_world.session(owner, permissions)
    maker = session if case == "allowed" else None
    record = _record(authz_world, route, maker)
    r = _http(authz_world, route, session, record)
    if case == "allowed":
        assert r.status_code in route.ok_statuses, f"{route.key} with {sorted(permissions)}: {r.status_code} {r.text}"
        if route.effect is not None:
            route.effect(authz_world, acme, route.record_id(record))
    elif case == "lacking":
        missing = sorted(set(CATALOGUE) - permissions)
        assert r.status_code in REFUSED, f"{route.key} without {missing}: {r.status_code} {r.text[:300]}"
    else:
        assert r.status_code == 404, f"{route.key} as another customer: {r.status_code} {r.text[:300]}"

    if route.grpc is None:
        return
    if route.fresh_record and case == "allowed":
        record = _record(authz_world, route, maker)
    code = _grpc(authz_world, route, session, record)
    if case == "allowed":
        assert code == grpc.StatusCode.OK
    elif case == "lacking":
        assert code in GRPC_REFUSED
    else:
        assert code == grpc.StatusCode.NOT_FOUND
