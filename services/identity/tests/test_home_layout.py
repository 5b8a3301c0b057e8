"""The portal home's layout (SPEC H3) through the real servicer: staff read it, admins change it, unknown keys are
refused, keys left out come back enabled at the end, and the portal reads it with the public portal controls.
SQLite and PostgreSQL."""

from __future__ import annotations

import grpc

from identity.portal_controls.home_layout import KEYS, normalise
from identity.users.service import create_staff_user
from portal.identity.v1 import identity_pb2
from servicekit.principal import ROLE_TECHNICIAN

from .test_portal_controls import PORTAL, STAFF_AUDIENCE, md_of, rpc_error

TECH_PASSWORD = "tech-pass-0123456789"


def layout(items: list[tuple[str, bool]], scope: str = "all") -> identity_pb2.UpdateHomeLayoutRequest:
    return identity_pb2.UpdateHomeLayoutRequest(
        layout=identity_pb2.HomeLayout(
            items=[identity_pb2.HomeLayoutItem(key=k, enabled=e) for k, e in items], default_scope=scope
        )
    )


def pairs(msg: identity_pb2.HomeLayout) -> list[tuple[str, bool]]:
    return [(i.key, i.enabled) for i in msg.items]


async def test_admins_change_the_layout_staff_read_it_and_the_portal_sees_it(stub, db, world, passwords):
    async with db.unit_of_work() as s:
        await create_staff_user(s, email="tech@example.test", password=TECH_PASSWORD, name="Tom", role=ROLE_TECHNICIAN)
    admin = await md_of(stub, "admin@example.test", passwords["staff"], STAFF_AUDIENCE)
    tech = await md_of(stub, "tech@example.test", TECH_PASSWORD, STAFF_AUDIENCE)
    alice = await md_of(stub, "alice@acme.test", passwords["alice"], PORTAL)

    # The default: every key once, enabled, in the catalogue's order, scope "all".
    got = (await stub.GetHomeLayout(identity_pb2.GetHomeLayoutRequest(), metadata=tech)).layout
    assert pairs(got) == [(k, True) for k in KEYS] and got.default_scope == "all"

    # Reorder and hide; the keys left out are appended, enabled, in the catalogue's order.
    done = await stub.UpdateHomeLayout(
        layout([("open_invoices", True), ("charts", False), ("open_tickets", True)], "mine"), metadata=admin
    )
    want = [("open_invoices", True), ("charts", False), ("open_tickets", True)]
    want += [(k, True) for k in KEYS if k not in {"open_invoices", "charts", "open_tickets"}]
    assert pairs(done.layout) == want and done.layout.default_scope == "mine"
    assert pairs((await stub.GetHomeLayout(identity_pb2.GetHomeLayoutRequest(), metadata=tech)).layout) == want
    # The portal reads it with the public portal controls (no token needed, nothing secret in it).
    public = (await stub.GetPortalControls(identity_pb2.GetPortalControlsRequest())).controls.home_layout
    assert pairs(public) == want and public.default_scope == "mine"

    # A technician may look but not change; a portal user may do neither through the staff RPCs.
    err = await rpc_error(stub.UpdateHomeLayout(layout([("charts", True)]), metadata=tech))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    for call in (
        stub.UpdateHomeLayout(layout([("charts", True)]), metadata=alice),
        stub.GetHomeLayout(identity_pb2.GetHomeLayoutRequest(), metadata=alice),
    ):
        assert (await rpc_error(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(stub.GetHomeLayout(identity_pb2.GetHomeLayoutRequest()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert pairs((await stub.GetHomeLayout(identity_pb2.GetHomeLayoutRequest(), metadata=admin)).layout) == want

    # Reset puts the default back.
    reset = await stub.UpdateHomeLayout(identity_pb2.UpdateHomeLayoutRequest(reset=True), metadata=admin)
    assert pairs(reset.layout) == [(k, True) for k in KEYS] and reset.layout.default_scope == "all"


async def test_unknown_or_repeated_keys_and_bad_scopes_are_invalid(stub, world, passwords):
    admin = await md_of(stub, "admin@example.test", passwords["staff"], STAFF_AUDIENCE)
    for bad, field in (
        (layout([("open_tickets", True), ("weather", True)]), "items"),
        (layout([("<script>", True)]), "items"),
        (layout([("charts", True), ("charts", False)]), "items"),
        (layout([("charts", True)], "everyone"), "default_scope"),
    ):
        err = await rpc_error(stub.UpdateHomeLayout(bad, metadata=admin))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith(f"{field}: "), bad
    # Nothing was stored by the refused calls.
    got = (await stub.GetHomeLayout(identity_pb2.GetHomeLayoutRequest(), metadata=admin)).layout
    assert pairs(got) == [(k, True) for k in KEYS]


def test_a_stored_layout_gains_new_keys_enabled_at_the_end_and_loses_removed_ones():
    # As if a release added the keys after "assets" and removed "weather": the stored order is kept.
    stored = [("assets", False), ("weather", True), ("open_tickets", True)]
    got = normalise(stored, "mine")
    assert got.items[:2] == (("assets", False), ("open_tickets", True))
    assert [k for k, _ in got.items[2:]] == [k for k in KEYS if k not in {"assets", "open_tickets"}]
    assert all(e for _, e in got.items[2:]) and got.default_scope == "mine"
