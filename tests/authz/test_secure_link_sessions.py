"""A session opened with a secure link (SPEC P6) against every registered route: a link to one ticket reaches the
ticket lists and home (which the services narrow to its ticket) and nothing else — every other route, and every
record the harness makes for a route (another ticket of the same customer, an invoice, an asset…), is refused,
through the gateway and over gRPC with the link's principal token. See harness.py for the routes."""

from __future__ import annotations

import grpc
import pytest

import tests.authz.test_matrix as matrix
from portal.identity.v1 import identity_pb2
from servicekit import permissions as perm
from tests.authz.harness import Route, all_routes
from tests.authz.routes_tickets import make_ticket
from tests.authz.world import DEADLINE, AuthzWorld

ROUTES = all_routes()


def _within_a_ticket_link(route: Route) -> bool:
    """What a one-ticket link may open: lists and pages without a record id that a ticket viewer opens (the
    services narrow them to its ticket), the home and the announcements; never the account pages or a user's push
    notifications (a link is nobody's device)."""
    if route.id_param is not None:
        return False
    if route.allowed_by is None:
        return not route.path.startswith(("/account", "/api/v1/notifications"))
    return perm.TICKETS_VIEW_ALL in route.allowed_by and route.method == "GET"


@pytest.fixture(scope="module")
def link_session(authz_world: AuthzWorld) -> tuple[str, str]:
    """A session of a link to a ticket of its own (not any record a route probes), and that ticket's id."""
    acme = authz_world.customers["acme"]
    ticket = make_ticket(authz_world, acme)
    created = authz_world.identity.CreateSecureLink(
        identity_pb2.CreateSecureLinkRequest(
            customer_id=acme.id, scope=identity_pb2.SECURE_LINK_SCOPE_TICKET, scope_id=ticket
        ),
        timeout=DEADLINE,
        metadata=authz_world.staff_metadata(),
    )
    opened = authz_world.identity.OpenSecureLink(
        identity_pb2.OpenSecureLinkRequest(token=created.token), timeout=DEADLINE
    )
    return opened.session_token, ticket


@pytest.mark.parametrize("route", ROUTES, ids=[r.key for r in ROUTES])
def test_a_ticket_link_session_is_refused_outside_its_ticket(
    authz_world: AuthzWorld, link_session: tuple[str, str], route: Route
) -> None:
    session, _ = link_session
    record_id = matrix._record(authz_world, route)
    within = _within_a_ticket_link(route)
    r = matrix._http(authz_world, route, session, record_id)
    if within:
        assert r.status_code in route.ok_statuses, f"{route.key}: {r.status_code} {r.text[:300]}"
    else:
        assert r.status_code in matrix.REFUSED, f"{route.key} through a ticket link: {r.status_code} {r.text[:300]}"
    if route.grpc is None:
        return
    code = matrix._grpc(authz_world, route, session, record_id)
    if within:
        assert code == grpc.StatusCode.OK, route.key
    else:
        assert code in matrix.GRPC_REFUSED, f"{route.key} over gRPC through a ticket link: {code}"
