"""Sessions: sign in, resolve a session into its principal, sign out.

`sign_in` is the one function here that runs its own units of work: the slow password check must not
hold a database transaction, and a failed attempt's audit row must be committed although the call fails.
Everything else never commits; the caller's unit of work does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity import idempotency, metrics, validation
from identity.audit import models as audit_kinds
from identity.audit.service import record
from identity.contacts.models import Contact
from identity.customers.models import Customer
from identity.customers.service import family
from identity.db import utcnow
from identity.events import publish
from identity.groups.models import PermissionGroup
from identity.mfa.models import MfaFactor, StaffMfaFactor
from identity.portal_controls import support_window
from identity.portal_controls.admin_override import widen
from identity.secure_links.models import SecureLink
from identity.secure_links.principal import link_principal
from identity.sessions.lockout import TOO_MANY, LockoutPolicy, refused
from identity.sessions.models import AUDIENCE_PORTAL, AUDIENCE_STAFF, PENDING_ENROL, PENDING_MFA, UserSession
from identity.sessions.tokens import MAX_SESSION_TOKEN, hash_session_token, new_session_token
from identity.users.hashing import verify_password
from identity.users.models import PortalUser, StaffUser
from identity.users.service import Account, find_account, set_password_hash
from servicekit.db import Database
from servicekit.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from servicekit.principal import (
    KIND_PORTAL_USER,
    KIND_SECURE_LINK,
    KIND_STAFF,
    ROLE_ADMIN,
    ROLE_TECHNICIAN,
    STAFF_ROLES,
    Principal,
)

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "the login or password is not correct"
SESSION_ENDED = "the session has ended; sign in again"
ARCHIVED = "this account cannot sign in to the portal"
STAFF_DEACTIVATED = "this staff account is deactivated; ask an admin to reactivate it"
MFA_STEP_PENDING = "the second step of the sign-in is not done yet"
PENDING_FIELDS = {PENDING_MFA: "mfa_pending", PENDING_ENROL: "mfa_enrol_pending"}

MAX_ATTEMPT_ID = 64

_KIND_OF_AUDIENCE = {AUDIENCE_PORTAL: KIND_PORTAL_USER, AUDIENCE_STAFF: KIND_STAFF}


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    # last_seen_at is written at most this often, so resolving a session is usually a pure read.
    touch_every: timedelta = timedelta(minutes=1)
    lockout: LockoutPolicy = LockoutPolicy()
    # SPEC S1: an admin staff member without a confirmed authenticator must enrol at sign-in.
    require_staff_admin_mfa: bool = False
    # Every staff member (IDENTITY_REQUIRE_STAFF_MFA), not only admins.
    require_staff_mfa: bool = False


@dataclass(frozen=True)
class OpenedSession:
    token: str
    session: UserSession
    principal: Principal

    @property
    def pending(self) -> str:
        return self.session.pending


async def sign_in(
    db: Database,
    *,
    login: str,
    password: str,
    audience: str,
    client_address: str = "",
    policy: SessionPolicy,
    attempt_id: str = "",
) -> OpenedSession:
    """Check the login and password and open a session; unknown login and wrong password fail alike. A retried
    attempt (same `attempt_id`) counts its failure towards the lock-out once."""
    if audience not in _KIND_OF_AUDIENCE:
        raise InvalidArgument("choose the portal or the staff audience", field="audience")
    login = login.strip()
    if not login:
        raise InvalidArgument("enter your email or username", field="login")
    if not password:
        raise InvalidArgument("enter your password", field="password")
    if len(login) > validation.MAX_EMAIL:
        raise InvalidArgument(f"at most {validation.MAX_EMAIL} characters", field="login")
    if len(password) > validation.MAX_PASSWORD:
        raise InvalidArgument(f"at most {validation.MAX_PASSWORD} characters", field="password")
    if len(attempt_id) > MAX_ATTEMPT_ID:
        raise InvalidArgument(f"at most {MAX_ATTEMPT_ID} characters", field="attempt_id")
    kind = _KIND_OF_AUDIENCE[audience]
    subject = f"{audience}:{validation.key(login)}"

    async with db.unit_of_work() as s:
        why = await refused(s, subject=subject, address=client_address, now=utcnow(), policy=policy.lockout)
        if why:
            # Checked before the password: a correct guess gets through no faster than the limit allows.
            await record(
                s,
                kind=audit_kinds.SIGN_IN_THROTTLED,
                subject=subject,
                address=client_address,
                at=utcnow(),
                detail={"audience": audience, "limit": why},
            )
        else:
            account = await find_account(s, kind=kind, login=login)
    if why:
        metrics.SIGN_INS.labels(audience, metrics.FAILED).inc()
        log.info("sign-in refused by the %s limit (%s)", why, audience)
        raise ResourceExhausted(TOO_MANY)
    ok, new_hash = await verify_password(account.password_hash if account else None, password)

    async with db.unit_of_work() as s:
        now = utcnow()
        archived = ok and account is not None and await _customer_archived(s, account)
        # SPEC P7: checked after the password, so only the account's owner learns about its support window.
        outside = "" if archived or not ok or account is None else await _outside_support_window(s, account)
        if outside:
            detail = {"audience": audience, "reason": "support_window"}
            await record(
                s, kind=audit_kinds.SIGN_IN_REFUSED, subject=subject, address=client_address, at=now, detail=detail
            )
            opened = None
        elif archived:
            reason = "customer_archived" if account.kind == KIND_PORTAL_USER else "staff_deactivated"
            detail = {"audience": audience, "reason": reason}
            # Not a failure: the password was right, so it must not count towards the lock-out.
            await record(
                s, kind=audit_kinds.SIGN_IN_REFUSED, subject=subject, address=client_address, at=now, detail=detail
            )
            opened = None
        elif not ok or account is None:
            detail = {"audience": audience, "reason": "wrong_password" if account else "unknown_login"}
            if await _first_failure_of(s, subject=subject, attempt_id=attempt_id):
                await record(
                    s, kind=audit_kinds.SIGN_IN_FAILED, subject=subject, address=client_address, at=now, detail=detail
                )
            opened = None
        else:
            if new_hash:
                await set_password_hash(s, account=account, password_hash=new_hash)
            opened = await _open_session(
                s, account=account, audience=audience, client_address=client_address, policy=policy, now=now
            )
            detail = {"audience": audience, "user_id": account.id, "session_id": opened.session.id}
            await record(s, kind=audit_kinds.SIGN_IN, subject=subject, address=client_address, at=now, detail=detail)
    metrics.SIGN_INS.labels(audience, metrics.SUCCEEDED if opened else metrics.FAILED).inc()
    if opened is None:
        log.info("sign-in failed (%s, %s)", audience, detail["reason"])
        if archived:
            raise PermissionDenied(ARCHIVED if account.kind == KIND_PORTAL_USER else STAFF_DEACTIVATED)
        if outside:
            raise FailedPrecondition(outside, field=support_window.SUPPORT_WINDOW_FIELD)
        raise Unauthenticated(WRONG_CREDENTIALS)
    log.info("sign-in of %s %s, session %s", account.kind, account.id, opened.session.id)
    return opened


async def _first_failure_of(s: AsyncSession, *, subject: str, attempt_id: str) -> bool:
    """Whether this failure is the attempt's first (always, without an id): a retried form post or API call must
    not count one wrong password twice towards the lock-out."""
    if not attempt_id:
        return True
    scope = f"sign-in-failed:{subject}"[:120]
    if await idempotency.earlier_result(s, scope=scope, key=attempt_id) is not None:
        log.info("a retried sign-in attempt failed again: counted once")
        return False
    await idempotency.claim(s, scope=scope, key=attempt_id, resource_id="counted")
    return True


async def _open_session(
    s: AsyncSession, *, account: Account, audience: str, client_address: str, policy: SessionPolicy, now: datetime
) -> OpenedSession:
    token = new_session_token()
    session = UserSession(
        token_hash=hash_session_token(token),
        audience=audience,
        user_kind=account.kind,
        user_id=account.id,
        client_address=client_address[:64],
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
        pending=await _second_factor(s, account, policy),
    )
    s.add(session)
    await s.flush()
    return OpenedSession(token=token, session=session, principal=await principal_for(s, session))


async def _customer_archived(s: AsyncSession, account: Account) -> bool:
    """Whether the user's customer is archived (SPEC C5) or the user itself disabled (C3 portal user off, or a
    deactivated staff member, S1)."""
    if account.kind == KIND_STAFF:
        staff = await s.get(StaffUser, account.id)
        return staff is None or staff.disabled_at is not None
    if account.kind != KIND_PORTAL_USER:
        return False
    row = (
        await s.execute(
            select(Customer.archived_at, PortalUser.disabled_at)
            .join(PortalUser, PortalUser.customer_id == Customer.id)
            .where(PortalUser.id == account.id)
        )
    ).first()
    return row is not None and (row[0] is not None or row[1] is not None)


async def _outside_support_window(s: AsyncSession, account: Account) -> str:
    if account.kind != KIND_PORTAL_USER:
        return ""
    contact = await s.scalar(
        select(Contact).join(PortalUser, PortalUser.contact_id == Contact.id).where(PortalUser.id == account.id)
    )
    return support_window.refusal(contact, support_window.today())


async def _second_factor(s: AsyncSession, account: Account, policy: SessionPolicy) -> str:
    """What a new session of this user waits for (SPEC P4, S1): a code, an enrolment, or nothing."""
    if account.kind == KIND_STAFF:
        staff_factor = await s.get(StaffMfaFactor, account.id)
        if staff_factor is not None and staff_factor.confirmed_at is not None:
            return PENDING_MFA
        staff = await s.get(StaffUser, account.id)
        admin = staff is not None and staff.role == ROLE_ADMIN
        required = policy.require_staff_mfa or (admin and policy.require_staff_admin_mfa)
        return PENDING_ENROL if required else ""
    if account.kind != KIND_PORTAL_USER:
        return ""
    factor = await s.get(MfaFactor, account.id)
    if factor is not None and factor.confirmed_at is not None:
        return PENDING_MFA
    user = await s.get(PortalUser, account.id)
    return PENDING_ENROL if user is not None and user.require_mfa else ""


async def resolve_session(
    s: AsyncSession, *, token: str, policy: SessionPolicy, now: datetime | None = None
) -> tuple[UserSession, Principal]:
    """The live session for `token` and its principal; an unknown, revoked, idle or expired one is UNAUTHENTICATED."""
    now = now or utcnow()
    if not token or len(token) > MAX_SESSION_TOKEN:
        raise Unauthenticated(SESSION_ENDED)
    session = await s.scalar(select(UserSession).where(UserSession.token_hash == hash_session_token(token)))
    if session is None or session.revoked_at is not None or now >= ends_at(session, policy):
        raise Unauthenticated(SESSION_ENDED)
    if session.pending:
        # Waiting for its second factor: no principal until VerifyMfaCode or ConfirmMfaEnrolment. The field tells
        # the gateway to send the browser back to that step rather than to the sign-in page.
        raise Unauthenticated(MFA_STEP_PENDING, field=PENDING_FIELDS.get(session.pending, "mfa_pending"))
    if now - session.last_seen_at >= policy.touch_every:
        session.last_seen_at = now
    return session, await principal_for(s, session)


def ends_at(session: UserSession, policy: SessionPolicy) -> datetime:
    """When the session stops working if nothing else happens: idle or absolute limit, whichever is first."""
    return min(session.expires_at, session.last_seen_at + policy.idle)


async def principal_not_after(s: AsyncSession, session: UserSession, policy: SessionPolicy) -> datetime:
    """The latest a principal token of this session may live: the session's end, or its secure link's expiry when
    that comes first (the gateway keeps a resolved principal no longer than its token, issue 16)."""
    end = ends_at(session, policy)
    if session.user_kind == KIND_SECURE_LINK:
        link = await s.get(SecureLink, session.user_id)  # already loaded by link_principal
        if link is not None:
            end = min(end, link.expires_at)
    return end


async def sign_out(s: AsyncSession, *, token: str, client_address: str = "", now: datetime | None = None) -> None:
    """Revoke the session of `token`; signing out twice, or with an unknown token, changes nothing."""
    now = now or utcnow()
    if not token or len(token) > MAX_SESSION_TOKEN:
        return
    session = await s.scalar(select(UserSession).where(UserSession.token_hash == hash_session_token(token)))
    if session is None or session.revoked_at is not None:
        return
    await s.execute(
        update(UserSession).where(UserSession.id == session.id, UserSession.revoked_at.is_(None)).values(revoked_at=now)
    )
    await publish.sessions_changed(s, "sign_out", session_ids=[session.id])
    await record(
        s,
        kind=audit_kinds.SIGN_OUT,
        subject=f"{session.audience}:{session.user_id}",
        address=client_address,
        at=now,
        detail={"session_id": session.id},
    )


async def principal_for(s: AsyncSession, session: UserSession) -> Principal:
    """Who the session's user is and what they may do, as every service will see it."""
    if session.user_kind == KIND_SECURE_LINK:
        return await link_principal(s, link_id=session.user_id, session_id=session.id, now=utcnow())
    if session.user_kind == KIND_STAFF:
        staff = await s.get(StaffUser, session.user_id)
        if staff is None or staff.disabled_at is not None:
            raise Unauthenticated(SESSION_ENDED)
        return Principal(
            kind=KIND_STAFF,
            subject_id=staff.id,
            display_name=staff.name or staff.email,
            email=staff.email,
            session_id=session.id,
            # Read on every resolve: a role change takes effect within one principal token's life.
            staff_role=staff.role if staff.role in STAFF_ROLES else ROLE_TECHNICIAN,
        )
    row = (
        await s.execute(
            select(PortalUser, Customer, PermissionGroup, Contact)
            .join(Customer, Customer.id == PortalUser.customer_id)
            .join(PermissionGroup, PermissionGroup.id == PortalUser.group_id)
            .outerjoin(Contact, Contact.id == PortalUser.contact_id)
            .where(PortalUser.id == session.user_id)
        )
    ).first()
    if row is None:
        raise Unauthenticated(SESSION_ENDED)
    user, customer, group, contact = row
    if customer.archived_at is not None or user.disabled_at is not None:
        raise Unauthenticated(SESSION_ENDED)
    outside = support_window.refusal(contact, support_window.today())
    if outside:
        # SPEC P7: a window that closes ends the session at its next resolve; the gateway shows why.
        raise Unauthenticated(outside, field=support_window.SUPPORT_WINDOW_FIELD)
    return Principal(
        kind=KIND_PORTAL_USER,
        subject_id=user.id,
        customer_id=customer.id,
        contact_id=contact.id if contact else "",
        # SPEC P9: the admin override turns the group's View Mine into View All (admin_override.py).
        permissions=widen(frozenset(group.permissions)) if user.admin_override else frozenset(group.permissions),
        # "All" covers the customer and its subsidiaries at any depth (SPEC P5, C6).
        customer_ids=await family(s, customer.id),
        display_name=contact.name if contact else customer.display_name,
        email=user.email,
        session_id=session.id,
    )
