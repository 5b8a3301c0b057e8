"""Portal controls through the real servicer: support window (SPEC P7), off switch (P8), admin override (P9) and
branding (P12). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from identity.customers.service import create_customer
from identity.db import utcnow
from portal.identity.v1 import identity_pb2
from servicekit import permissions as perm
from servicekit.errors import PermissionDenied
from servicekit.permissions import NON_PORTAL_USER_GROUP
from servicekit.principal import Principal, bearer_metadata, visibility

PORTAL = identity_pb2.AUDIENCE_PORTAL
STAFF_AUDIENCE = identity_pb2.AUDIENCE_STAFF


async def rpc_error(call) -> grpc.aio.AioRpcError | None:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err
    return None


async def md_of(stub, login: str, password: str, audience=PORTAL):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=audience))
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token)


def day(offset: int) -> str:
    return (utcnow().date() + timedelta(days=offset)).isoformat()


async def test_support_window_at_sign_in_and_on_every_resolve(stub, world, passwords):
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF_AUDIENCE)
    alice_in = identity_pb2.SignInRequest(login="alice@acme.test", password=passwords["alice"], audience=PORTAL)

    def window(start: str, end: str) -> identity_pb2.SetSupportWindowRequest:
        return identity_pb2.SetSupportWindowRequest(contact_id=world.contact_a, support_start=start, support_end=end)

    set_ = await stub.SetSupportWindow(window(day(-10), day(10)), metadata=staff)
    assert (set_.contact.support_start, set_.contact.support_end) == (day(-10), day(10))
    listed = await stub.ListContacts(identity_pb2.ListContactsRequest(customer_id=world.customer_a), metadata=staff)
    assert [c.support_end for c in listed.contacts if c.id == world.contact_a] == [day(10)]
    signed = await stub.SignIn(alice_in)
    resolve = identity_pb2.ResolveSessionRequest(session_token=signed.session_token)
    assert (await stub.ResolveSession(resolve)).renewal_notice_ends_on == ""

    # From N days before the end date the portal shows the renewal notice (SPEC P7 "from N days").
    await stub.UpdatePortalControls(identity_pb2.UpdatePortalControlsRequest(renewal_notice_days=10), metadata=staff)
    assert (await stub.ResolveSession(resolve)).renewal_notice_ends_on == day(10)
    await stub.UpdatePortalControls(identity_pb2.UpdatePortalControlsRequest(renewal_notice_days=9), metadata=staff)
    assert (await stub.ResolveSession(resolve)).renewal_notice_ends_on == ""

    # The window closes: the live session ends at its next resolve, and sign-in says why (only with the password).
    await stub.SetSupportWindow(window(day(-10), day(-1)), metadata=staff)
    err = await rpc_error(stub.ResolveSession(resolve))
    assert err is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert f"ended on {day(-1)}" in err.details()
    err = await rpc_error(stub.SignIn(alice_in))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == f"support_window: your support period ended on {day(-1)}"
    wrong = identity_pb2.SignInRequest(login="alice@acme.test", password="not-her-password", audience=PORTAL)
    assert (await rpc_error(stub.SignIn(wrong))).code() == grpc.StatusCode.UNAUTHENTICATED

    await stub.SetSupportWindow(window(day(1), ""), metadata=staff)
    err = await rpc_error(stub.SignIn(alice_in))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and f"starts on {day(1)}" in err.details()
    # The first and last days are inside the window.
    await stub.SetSupportWindow(window(day(0), day(0)), metadata=staff)
    await stub.SignIn(alice_in)
    await stub.SetSupportWindow(window("", ""), metadata=staff)
    await stub.SignIn(alice_in)
    # A customer-level user has no contact and so no window.
    await stub.SignIn(identity_pb2.SignInRequest(login="bob.blue", password=passwords["bob"], audience=PORTAL))


@pytest.mark.parametrize(
    ("start", "end", "code", "field"),
    [
        ("2026-02-30", "", grpc.StatusCode.INVALID_ARGUMENT, "support_start"),
        ("", "31/12/2026", grpc.StatusCode.INVALID_ARGUMENT, "support_end"),
        ("2026-12-10", "2026-12-01", grpc.StatusCode.INVALID_ARGUMENT, "support_end"),
    ],
)
async def test_support_window_bad_input(stub, world, passwords, start, end, code, field):
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF_AUDIENCE)
    req = identity_pb2.SetSupportWindowRequest(contact_id=world.contact_a, support_start=start, support_end=end)
    err = await rpc_error(stub.SetSupportWindow(req, metadata=staff))
    assert err.code() == code and err.details().startswith(f"{field}: ")


async def test_only_staff_set_windows_and_unknown_contacts_are_not_found(stub, world, passwords):
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF_AUDIENCE)
    alice = await md_of(stub, "alice@acme.test", passwords["alice"])
    req = identity_pb2.SetSupportWindowRequest(contact_id=world.contact_a, support_end=day(-1))
    assert (await rpc_error(stub.SetSupportWindow(req, metadata=alice))).code() == grpc.StatusCode.PERMISSION_DENIED
    missing = identity_pb2.SetSupportWindowRequest(contact_id="nope", support_end=day(1))
    assert (await rpc_error(stub.SetSupportWindow(missing, metadata=staff))).code() == grpc.StatusCode.NOT_FOUND


async def test_off_switch_and_branding_are_validated_kept_apart_and_public_to_read(stub, world, passwords):
    staff = await md_of(stub, "admin@example.test", passwords["staff"], STAFF_AUDIENCE)
    alice = await md_of(stub, "alice@acme.test", passwords["alice"])
    # Public: every page reads it, signed in or not.
    controls = (await stub.GetPortalControls(identity_pb2.GetPortalControlsRequest())).controls
    assert not controls.off_switch.disabled and controls.branding.custom_css_url == ""

    def off(disabled: bool, url: str) -> identity_pb2.UpdatePortalControlsRequest:
        return identity_pb2.UpdatePortalControlsRequest(
            off_switch=identity_pb2.PortalOffSwitch(disabled=disabled, redirect_url=url)
        )

    def brand(name: str = "", logo: str = "", css: str = "") -> identity_pb2.UpdatePortalControlsRequest:
        return identity_pb2.UpdatePortalControlsRequest(
            branding=identity_pb2.PortalBranding(operator_name=name, logo_url=logo, custom_css_url=css)
        )

    # The last two are the portal's own address (the test settings' portal_url): a redirect loop.
    own = ("https://portal.example.test/closed", "https://PORTAL.example.test/")
    for bad in ("", "javascript:alert(1)", "/relative", "https://", "https://a b.test/", "ftp://x.test/", *own):
        err = await rpc_error(stub.UpdatePortalControls(off(True, bad), metadata=staff))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith("redirect_url: "), bad
    done = await stub.UpdatePortalControls(off(True, "https://www.example.com/support"), metadata=staff)
    assert (
        done.controls.off_switch.disabled and done.controls.off_switch.redirect_url == "https://www.example.com/support"
    )

    for bad in (
        "http://cdn.example.com/a.css",
        "//evil.test/a.css",
        "/\\evil.test/a.css",
        "https://user:pw@cdn.example.com/a.css",
        'https://cdn.example.com/a.css" onload="x',
        "https://cdn.example.com/a.css'",
        "javascript:alert(1)",
        "data:text/css,body{}",
        "/static/a b.css",
        "https://cdn.example.com/é.css",
    ):
        err = await rpc_error(stub.UpdatePortalControls(brand(css=bad), metadata=staff))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith("custom_css_url: "), bad
    err = await rpc_error(stub.UpdatePortalControls(brand(logo="http://x.test/logo.png"), metadata=staff))
    assert err.details().startswith("logo_url: ")
    err = await rpc_error(stub.UpdatePortalControls(brand(name="x" * 101), metadata=staff))
    assert err.details().startswith("operator_name: ")
    branded = await stub.UpdatePortalControls(
        brand("Fixit  Co", "/static/logo.svg", "https://cdn.example.com:8443/theme.css?v=2"), metadata=staff
    )
    b = branded.controls.branding
    assert (b.operator_name, b.logo_url, b.custom_css_url) == (
        "Fixit Co",
        "/static/logo.svg",
        "https://cdn.example.com:8443/theme.css?v=2",
    )
    # Changing the branding left the off switch as it was.
    assert branded.controls.off_switch.redirect_url == "https://www.example.com/support"
    await stub.UpdatePortalControls(off(False, ""), metadata=staff)
    after = (await stub.GetPortalControls(identity_pb2.GetPortalControlsRequest())).controls
    assert not after.off_switch.disabled and after.branding.operator_name == "Fixit Co"

    for req in (off(True, "https://x.test/"), brand(name="Mine")):
        assert (await rpc_error(stub.UpdatePortalControls(req, metadata=alice))).code() == (
            grpc.StatusCode.PERMISSION_DENIED
        )
    bad_days = identity_pb2.UpdatePortalControlsRequest(renewal_notice_days=366)
    assert (
        (await rpc_error(stub.UpdatePortalControls(bad_days, metadata=staff)))
        .details()
        .startswith("renewal_notice_days: ")
    )


async def test_admin_override_widens_mine_to_all_and_nothing_else(stub, db, world, passwords, staff):
    async with db.unit_of_work() as s:
        sub = await create_customer(
            s, principal=staff, business_name="Acme Branch", first_name="", last_name="", email="branch@acme.test"
        )
        sub.parent_id = world.customer_a
    staff_md = await md_of(stub, "admin@example.test", passwords["staff"], STAFF_AUDIENCE)
    await stub.SetPortalUserGroup(
        identity_pb2.SetPortalUserGroupRequest(portal_user_id=world.alice, group_name=NON_PORTAL_USER_GROUP),
        metadata=staff_md,
    )
    alice_in = identity_pb2.SignInRequest(login="alice@acme.test", password=passwords["alice"], audience=PORTAL)
    session = (await stub.SignIn(alice_in)).session_token

    async def principal() -> Principal:
        resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=session))
        return Principal.from_proto(resolved.principal)

    before = await principal()
    assert before.permissions == {perm.TICKETS_VIEW_MINE}
    mine = visibility(before, view_all=perm.TICKETS_VIEW_ALL, view_mine=perm.TICKETS_VIEW_MINE)
    assert (mine.customer_ids, mine.contact_id) == ((world.customer_a,), world.contact_a)

    on = await stub.SetAdminOverride(
        identity_pb2.SetAdminOverrideRequest(portal_user_id=world.alice, admin_override=True), metadata=staff_md
    )
    assert on.portal_user.admin_override
    after = await principal()
    # Exactly View All added beside the group's View Mine; the same customer, contact and family.
    assert after.permissions == {perm.TICKETS_VIEW_MINE, perm.TICKETS_VIEW_ALL}
    assert (after.customer_id, after.contact_id) == (world.customer_a, world.contact_a)
    assert set(after.customer_ids) == {world.customer_a, sub.id}
    tickets = visibility(after, view_all=perm.TICKETS_VIEW_ALL, view_mine=perm.TICKETS_VIEW_MINE)
    assert set(tickets.customer_ids) == {world.customer_a, sub.id} and tickets.contact_id is None
    assert world.customer_b not in tickets.customer_ids
    # A module the group does not open stays closed.
    with pytest.raises(PermissionDenied):
        visibility(after, view_all=perm.INVOICES_VIEW_ALL, view_mine=perm.INVOICES_VIEW_MINE)
    assert not after.has(perm.INVOICES_PAY_ONLINE) and not after.has(perm.PRIVACY_SETTINGS_MANAGE)

    # The customer's own user already has the whole view: the override is for contacts' users.
    bob = identity_pb2.SetAdminOverrideRequest(portal_user_id=world.bob, admin_override=True)
    assert (await rpc_error(stub.SetAdminOverride(bob, metadata=staff_md))).code() == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    alice_md = bearer_metadata(
        (await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=session))).principal_token
    )
    itself = identity_pb2.SetAdminOverrideRequest(portal_user_id=world.alice, admin_override=True)
    assert (await rpc_error(stub.SetAdminOverride(itself, metadata=alice_md))).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    missing = identity_pb2.SetAdminOverrideRequest(portal_user_id="nope", admin_override=True)
    assert (await rpc_error(stub.SetAdminOverride(missing, metadata=staff_md))).code() == grpc.StatusCode.NOT_FOUND

    await stub.SetAdminOverride(
        identity_pb2.SetAdminOverrideRequest(portal_user_id=world.alice, admin_override=False), metadata=staff_md
    )
    assert (await principal()).permissions == {perm.TICKETS_VIEW_MINE}
