"""Staff accounts and roles (SPEC S1) over gRPC: a technician is refused every admin-only operation by the service,
an admin is allowed; an invited staff member accepts by email, signs in, and (an admin, where required) enrols MFA;
a deactivated one cannot sign in and its sessions end; the last admin stays an admin."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pyotp
import pytest
import sqlalchemy as sa

from identity.config import Settings
from identity.mail.models import OutboundEmail
from identity.users.service import create_staff_user
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.principal import ROLE_ADMIN, ROLE_TECHNICIAN, TokenVerifier, bearer_metadata

STAFF = identity_pb2.AUDIENCE_STAFF
TECH_PASSWORD = "tech-pass-0123456789"
NEW_PASSWORD = "chosen-pass-0123456789"


async def code_of(call) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


async def staff_md(stub, login: str, password: str):  # noqa: ANN001, ANN201
    signed = await stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=STAFF))
    assert signed.next_step == identity_pb2.SIGN_IN_STEP_DONE
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed.session_token))
    return bearer_metadata(resolved.principal_token), signed.session_token, resolved.principal_token


@pytest.fixture
async def technician(db: Database, world) -> str:  # noqa: ANN001
    async with db.unit_of_work() as s:
        tech = await create_staff_user(
            s, email="tech@example.test", password=TECH_PASSWORD, name="Tom Tech", role=ROLE_TECHNICIAN
        )
    return tech.id


async def invitation_link(db: Database, settings: Settings, recipient: str) -> str:
    async with db.unit_of_work() as s:
        bodies = (
            await s.scalars(
                sa.select(OutboundEmail.body)
                .where(OutboundEmail.recipient == recipient, OutboundEmail.template == "staff_invitation")
                .order_by(OutboundEmail.created_at)
            )
        ).all()
    assert bodies, f"no staff invitation queued for {recipient}"
    text = json.loads(settings.secret_box().open(bodies[-1]))["text"]
    return re.search(r"/staff/invitation\?token=(\S+)", text).group(1)


def _admin_only_calls(stub, world, technician: str, group_id: str):  # noqa: ANN001, ANN202
    """Every admin-only identity RPC, with a request that an admin's call would accept."""
    return {
        "ListStaffUsers": lambda md: stub.ListStaffUsers(identity_pb2.ListStaffUsersRequest(), metadata=md),
        "InviteStaffUser": lambda md: stub.InviteStaffUser(
            identity_pb2.InviteStaffUserRequest(email="new@example.test", role=ROLE_TECHNICIAN), metadata=md
        ),
        "ResendStaffInvitation": lambda md: stub.ResendStaffInvitation(
            identity_pb2.ResendStaffInvitationRequest(staff_user_id="no-such-one"), metadata=md
        ),
        "SetStaffRole": lambda md: stub.SetStaffRole(
            identity_pb2.SetStaffRoleRequest(staff_user_id=technician, role=ROLE_TECHNICIAN), metadata=md
        ),
        "SetStaffActive": lambda md: stub.SetStaffActive(
            identity_pb2.SetStaffActiveRequest(staff_user_id=technician, active=True), metadata=md
        ),
        "ResetStaffMfa": lambda md: stub.ResetStaffMfa(
            identity_pb2.ResetStaffMfaRequest(staff_user_id=technician), metadata=md
        ),
        "CreatePermissionGroup": lambda md: stub.CreatePermissionGroup(
            identity_pb2.CreatePermissionGroupRequest(name="Made by someone"), metadata=md
        ),
        "UpdatePermissionGroup": lambda md: stub.UpdatePermissionGroup(
            identity_pb2.UpdatePermissionGroupRequest(group_id=group_id, name="Renamed"), metadata=md
        ),
        "DeletePermissionGroup": lambda md: stub.DeletePermissionGroup(
            identity_pb2.DeletePermissionGroupRequest(group_id=group_id), metadata=md
        ),
        "UpdatePortalSettings": lambda md: stub.UpdatePortalSettings(
            identity_pb2.UpdatePortalSettingsRequest(
                settings=identity_pb2.PortalSettings(always_invite_new_customers=True)
            ),
            metadata=md,
        ),
        "UpdatePortalControls (off switch)": lambda md: stub.UpdatePortalControls(
            identity_pb2.UpdatePortalControlsRequest(off_switch=identity_pb2.PortalOffSwitch(disabled=False)),
            metadata=md,
        ),
        "UpdatePortalControls (branding)": lambda md: stub.UpdatePortalControls(
            identity_pb2.UpdatePortalControlsRequest(branding=identity_pb2.PortalBranding(operator_name="Acme IT")),
            metadata=md,
        ),
        "UpdateEmailTemplate": lambda md: stub.UpdateEmailTemplate(
            identity_pb2.UpdateEmailTemplateRequest(
                name="login_details", language="en", subject="Your login", body="Login: {{ login }}"
            ),
            metadata=md,
        ),
        "ResetEmailTemplate": lambda md: stub.ResetEmailTemplate(
            identity_pb2.ResetEmailTemplateRequest(name="login_details", language="en"), metadata=md
        ),
    }


async def test_a_technician_is_refused_every_admin_only_rpc_and_an_admin_is_allowed(
    stub, world, passwords, technician, signing_key
):
    admin_md, _, _ = await staff_md(stub, "admin@example.test", passwords["staff"])
    tech_md, _, tech_token = await staff_md(stub, "tech@example.test", TECH_PASSWORD)
    assert TokenVerifier([signing_key.public_key()]).verify(tech_token).staff_role == ROLE_TECHNICIAN
    group = (
        await stub.CreatePermissionGroup(identity_pb2.CreatePermissionGroupRequest(name="Spare"), metadata=admin_md)
    ).group

    calls = _admin_only_calls(stub, world, technician, group.id)
    for name, call in calls.items():
        code, details = await code_of(call(tech_md))
        assert code == grpc.StatusCode.PERMISSION_DENIED, name
        assert "only an admin may" in details, (name, details)

    # A technician keeps what its work needs: customers, contacts, the groups (to read), its tickets elsewhere.
    customers = await stub.ListCustomers(identity_pb2.ListCustomersRequest(), metadata=tech_md)
    assert {c.id for c in customers.customers} >= {world.customer_a, world.customer_b}
    await stub.GetCustomer(identity_pb2.GetCustomerRequest(customer_id=world.customer_a), metadata=tech_md)
    await stub.ListContacts(identity_pb2.ListContactsRequest(customer_id=world.customer_a), metadata=tech_md)
    await stub.ListPermissionGroups(identity_pb2.ListPermissionGroupsRequest(), metadata=tech_md)

    # The same calls from the admin go through (ResendStaffInvitation names no one: NOT_FOUND, not refused).
    for name, call in calls.items():
        code, details = await code_of(call(admin_md))
        expected = grpc.StatusCode.NOT_FOUND if name == "ResendStaffInvitation" else grpc.StatusCode.OK
        assert code == expected, (name, details)


async def test_a_portal_user_and_a_roleless_staff_token_are_refused_too(stub, world, passwords, tokens):
    from datetime import UTC, datetime, timedelta

    from servicekit.principal import KIND_STAFF, Principal

    alice_signed = await stub.SignIn(
        identity_pb2.SignInRequest(
            login="alice@acme.test", password=passwords["alice"], audience=identity_pb2.AUDIENCE_PORTAL
        )
    )
    alice = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=alice_signed.session_token))
    # A staff token signed before roles existed carries none: it is a technician, not an admin.
    roleless, _ = tokens.sign(
        Principal(kind=KIND_STAFF, subject_id=world.staff), not_after=datetime.now(UTC) + timedelta(minutes=5)
    )
    for md in (bearer_metadata(alice.principal_token), bearer_metadata(roleless)):
        code, _ = await code_of(stub.ListStaffUsers(identity_pb2.ListStaffUsersRequest(), metadata=md))
        assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_invite_accept_sign_in_and_the_invite_is_idempotent(stub, db: Database, world, passwords, settings):
    admin_md, _, _ = await staff_md(stub, "admin@example.test", passwords["staff"])
    request = identity_pb2.InviteStaffUserRequest(
        email="Nina@Example.test", name="Nina New", role=ROLE_TECHNICIAN, idempotency_key="invite-nina-1"
    )
    first = (await stub.InviteStaffUser(request, metadata=admin_md)).staff_user
    again = (await stub.InviteStaffUser(request, metadata=admin_md)).staff_user
    assert again.id == first.id and first.invitation_pending and first.role == ROLE_TECHNICIAN and first.active
    async with db.unit_of_work() as s:
        queued = await s.scalar(
            sa.select(sa.func.count()).select_from(OutboundEmail).where(OutboundEmail.template == "staff_invitation")
        )
    assert queued == 1, "a retried invite sends no second email"
    code, details = await code_of(
        stub.InviteStaffUser(
            identity_pb2.InviteStaffUserRequest(email="nina@example.test", role=ROLE_ADMIN), metadata=admin_md
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.ALREADY_EXISTS, "email")
    code, details = await code_of(
        stub.InviteStaffUser(
            identity_pb2.InviteStaffUserRequest(email="x@example.test", role="owner"), metadata=admin_md
        )
    )
    assert (code, details.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "role")

    # Before accepting, no password opens the account.
    code, _ = await code_of(
        stub.SignIn(identity_pb2.SignInRequest(login="nina@example.test", password="anything-at-all", audience=STAFF))
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    token = await invitation_link(db, settings, "Nina@Example.test")
    checked = await stub.CheckStaffInvitation(identity_pb2.CheckStaffInvitationRequest(token=token))
    assert checked.login == "Nina@Example.test"
    weak = identity_pb2.AcceptStaffInvitationRequest(token=token, new_password="short")
    assert (await code_of(stub.AcceptStaffInvitation(weak)))[0] == grpc.StatusCode.INVALID_ARGUMENT
    await stub.AcceptStaffInvitation(identity_pb2.AcceptStaffInvitationRequest(token=token, new_password=NEW_PASSWORD))
    twice = identity_pb2.AcceptStaffInvitationRequest(token=token, new_password=NEW_PASSWORD + "x")
    assert (await code_of(stub.AcceptStaffInvitation(twice)))[0] == grpc.StatusCode.FAILED_PRECONDITION

    # A technician signs in without MFA and is a technician.
    _, _, principal_token = await staff_md(stub, "nina@example.test", NEW_PASSWORD)
    listed = (await stub.ListStaffUsers(identity_pb2.ListStaffUsersRequest(), metadata=admin_md)).staff_users
    nina = next(u for u in listed if u.id == first.id)
    assert not nina.invitation_pending and not nina.mfa_enabled
    assert [u.name for u in listed if u.role == ROLE_ADMIN] == ["Ada Admin"]


async def test_deactivation_ends_sessions_and_refuses_sign_in_until_reactivated(stub, world, passwords, technician):
    admin_md, _, _ = await staff_md(stub, "admin@example.test", passwords["staff"])
    _, tech_session, _ = await staff_md(stub, "tech@example.test", TECH_PASSWORD)
    off = await stub.SetStaffActive(
        identity_pb2.SetStaffActiveRequest(staff_user_id=technician, active=False), metadata=admin_md
    )
    assert not off.staff_user.active
    resolve = identity_pb2.ResolveSessionRequest(session_token=tech_session)
    assert (await code_of(stub.ResolveSession(resolve)))[0] == grpc.StatusCode.UNAUTHENTICATED
    sign_in = identity_pb2.SignInRequest(login="tech@example.test", password=TECH_PASSWORD, audience=STAFF)
    code, details = await code_of(stub.SignIn(sign_in))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "deactivated" in details
    # A wrong password for a deactivated account says nothing more than for any other.
    wrong = identity_pb2.SignInRequest(login="tech@example.test", password="not-the-password", audience=STAFF)
    assert (await code_of(stub.SignIn(wrong)))[0] == grpc.StatusCode.UNAUTHENTICATED

    await stub.SetStaffActive(
        identity_pb2.SetStaffActiveRequest(staff_user_id=technician, active=True), metadata=admin_md
    )
    await staff_md(stub, "tech@example.test", TECH_PASSWORD)


async def test_the_last_admin_cannot_be_demoted_or_deactivated_and_a_promotion_takes_effect(
    stub, world, passwords, technician, signing_key
):
    admin_md, _, _ = await staff_md(stub, "admin@example.test", passwords["staff"])
    demote = identity_pb2.SetStaffRoleRequest(staff_user_id=world.staff, role=ROLE_TECHNICIAN)
    code, details = await code_of(stub.SetStaffRole(demote, metadata=admin_md))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "at least one active admin" in details
    code, _ = await code_of(
        stub.SetStaffActive(
            identity_pb2.SetStaffActiveRequest(staff_user_id=world.staff, active=False), metadata=admin_md
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION

    promoted = await stub.SetStaffRole(
        identity_pb2.SetStaffRoleRequest(staff_user_id=technician, role=ROLE_ADMIN), metadata=admin_md
    )
    assert promoted.staff_user.role == ROLE_ADMIN
    tech_md, _, token = await staff_md(stub, "tech@example.test", TECH_PASSWORD)
    assert TokenVerifier([signing_key.public_key()]).verify(token).is_admin
    # Now there are two admins: the first may be made a technician (by the other).
    await stub.SetStaffRole(demote, metadata=tech_md)


@pytest.fixture
def admin_mfa_settings(db_url: str, signing_key_file: Path) -> Settings:
    return Settings(
        database_url=db_url,
        signing_key_file=signing_key_file,
        portal_url="https://portal.example.test",
        require_staff_admin_mfa=True,
    )


@pytest.fixture
async def mfa_stub(db: Database, admin_mfa_settings: Settings) -> AsyncIterator:
    from identity.main import NAME, wire
    from identity.sessions.tokens import PrincipalTokens
    from portal.identity.v1 import identity_pb2_grpc
    from portal_testkit.services import serve_wired

    wirings = []

    def wired(rt):  # noqa: ANN001, ANN202
        wirings.append(wire(rt))
        return wirings[-1]

    verifier = PrincipalTokens(admin_mfa_settings.signing_key(), 300).verifier()
    async with serve_wired(wired, db, verifier, name=NAME, settings=admin_mfa_settings) as served:
        await wirings[0].background[0]()
        yield identity_pb2_grpc.IdentityServiceStub(served.channel)


async def test_an_invited_admin_must_enrol_mfa_where_required_and_then_gives_a_code(
    mfa_stub, db: Database, world, passwords, admin_mfa_settings, technician
):
    stub = mfa_stub
    assert admin_mfa_settings.session_policy().require_staff_admin_mfa
    # The existing admin has no authenticator: its sign-in waits for an enrolment, not a principal.
    signed = await stub.SignIn(
        identity_pb2.SignInRequest(login="admin@example.test", password=passwords["staff"], audience=STAFF)
    )
    assert signed.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROL
    resolve = identity_pb2.ResolveSessionRequest(session_token=signed.session_token)
    assert (await code_of(stub.ResolveSession(resolve)))[0] == grpc.StatusCode.UNAUTHENTICATED
    begun = await stub.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(session_token=signed.session_token))
    await stub.ConfirmMfaEnrolment(
        identity_pb2.ConfirmMfaEnrolmentRequest(session_token=signed.session_token, code=pyotp.TOTP(begun.secret).now())
    )
    admin_md = bearer_metadata((await stub.ResolveSession(resolve)).principal_token)

    # A technician is not asked for MFA.
    tech = await stub.SignIn(
        identity_pb2.SignInRequest(login="tech@example.test", password=TECH_PASSWORD, audience=STAFF)
    )
    assert tech.next_step == identity_pb2.SIGN_IN_STEP_DONE

    invited = (
        await stub.InviteStaffUser(
            identity_pb2.InviteStaffUserRequest(email="boss2@example.test", name="Second Admin", role=ROLE_ADMIN),
            metadata=admin_md,
        )
    ).staff_user
    token = await invitation_link(db, admin_mfa_settings, "boss2@example.test")
    await stub.AcceptStaffInvitation(identity_pb2.AcceptStaffInvitationRequest(token=token, new_password=NEW_PASSWORD))
    first = await stub.SignIn(
        identity_pb2.SignInRequest(login="boss2@example.test", password=NEW_PASSWORD, audience=STAFF)
    )
    assert first.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROL
    begun = await stub.BeginMfaEnrolment(identity_pb2.BeginMfaEnrolmentRequest(session_token=first.session_token))
    confirmed = await stub.ConfirmMfaEnrolment(
        identity_pb2.ConfirmMfaEnrolmentRequest(session_token=first.session_token, code=pyotp.TOTP(begun.secret).now())
    )
    assert len(confirmed.recovery_codes) == 10
    boss2 = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=first.session_token))
    assert boss2.principal.staff_role == ROLE_ADMIN

    # The next sign-in asks for a code; then an admin resets the factor and it must enrol again.
    second = await stub.SignIn(
        identity_pb2.SignInRequest(login="boss2@example.test", password=NEW_PASSWORD, audience=STAFF)
    )
    assert second.next_step == identity_pb2.SIGN_IN_STEP_MFA_CODE
    await stub.VerifyMfaCode(
        identity_pb2.VerifyMfaCodeRequest(
            session_token=second.session_token, code=pyotp.TOTP(begun.secret).at(time.time() + 30)
        )
    )
    listed = (await stub.ListStaffUsers(identity_pb2.ListStaffUsersRequest(), metadata=admin_md)).staff_users
    assert next(u for u in listed if u.id == invited.id).mfa_enabled
    reset = await stub.ResetStaffMfa(identity_pb2.ResetStaffMfaRequest(staff_user_id=invited.id), metadata=admin_md)
    assert not reset.staff_user.mfa_enabled
    third = await stub.SignIn(
        identity_pb2.SignInRequest(login="boss2@example.test", password=NEW_PASSWORD, audience=STAFF)
    )
    assert third.next_step == identity_pb2.SIGN_IN_STEP_MFA_ENROL


async def test_staff_sign_in_locks_out_after_repeated_failures(stub, world, technician):
    wrong = identity_pb2.SignInRequest(
        login="tech@example.test", password="not-the-password", audience=STAFF, client_address="203.0.113.9"
    )
    for _ in range(5):
        assert (await code_of(stub.SignIn(wrong)))[0] == grpc.StatusCode.UNAUTHENTICATED
    right = identity_pb2.SignInRequest(
        login="tech@example.test", password=TECH_PASSWORD, audience=STAFF, client_address="203.0.113.9"
    )
    assert (await code_of(stub.SignIn(right)))[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_every_staff_member_reads_the_directory_of_active_staff(stub, world, passwords, technician):
    """Whom a ticket can be assigned to: id and name of the active staff, for a technician too, never for a portal
    user; a deactivated member leaves it."""
    admin_md, _, _ = await staff_md(stub, "admin@example.test", passwords["staff"])
    tech_md, _, _ = await staff_md(stub, "tech@example.test", TECH_PASSWORD)
    seen = await stub.ListStaffDirectory(identity_pb2.ListStaffDirectoryRequest(), metadata=tech_md)
    assert {(e.id, e.name) for e in seen.staff} >= {(technician, "Tom Tech")}
    assert set(seen.staff[0].DESCRIPTOR.fields_by_name) == {"id", "name"}, "nothing else of theirs"
    await stub.SetStaffActive(
        identity_pb2.SetStaffActiveRequest(staff_user_id=technician, active=False), metadata=admin_md
    )
    seen = await stub.ListStaffDirectory(identity_pb2.ListStaffDirectoryRequest(), metadata=admin_md)
    assert technician not in {e.id for e in seen.staff}
    alice_signed = await stub.SignIn(
        identity_pb2.SignInRequest(
            login="alice@acme.test", password=passwords["alice"], audience=identity_pb2.AUDIENCE_PORTAL
        )
    )
    alice = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=alice_signed.session_token))
    portal_md = bearer_metadata(alice.principal_token)
    code, _ = await code_of(stub.ListStaffDirectory(identity_pb2.ListStaffDirectoryRequest(), metadata=portal_md))
    assert code == grpc.StatusCode.PERMISSION_DENIED
