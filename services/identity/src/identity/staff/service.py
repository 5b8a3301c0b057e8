"""Staff accounts (SPEC S1): admins manage the team — list, invite by email with a role, change a role, deactivate
and reactivate, reset MFA. Every function here is admin-only (servicekit.principal.require_admin); a technician
is refused by the service, whatever page or API it comes through. Functions never commit, except
`accept_invitation`, which hashes the password between its own units of work, like the portal's.

There is always at least one active admin: demoting or deactivating the last one is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity import idempotency, validation
from identity.access import caller_scope
from identity.audit import models as audit_kinds
from identity.audit.service import record
from identity.db import new_id, utcnow
from identity.events import publish
from identity.mail.service import queue_email
from identity.mfa.service import remove_staff_factor, staff_has_mfa
from identity.passwords.models import PURPOSE_INVITE, StaffPasswordToken
from identity.passwords.service import INVITATION_TTL, LINK_DEAD, revoke_sessions
from identity.portal_controls.service import get_controls
from identity.secrets import SecretBox
from identity.sessions.tokens import MAX_SESSION_TOKEN, hash_session_token, new_session_token
from identity.users.hashing import hash_password
from identity.users.models import StaffUser
from servicekit.db import Database
from servicekit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.principal import KIND_STAFF, ROLE_ADMIN, ROLE_TECHNICIAN, STAFF_ROLES, Principal, require_admin

log = logging.getLogger(__name__)

MANAGE = "manage staff accounts"
LAST_ADMIN = "there must stay at least one active admin; make another staff member an admin first"
STAFF_INVITATION_TEMPLATE = "staff_invitation"

_INVITATION = {
    "en": (
        "You are invited to the staff console of {operator}",
        "Hello,\n\n"
        "{inviter} invited you to the staff console of {operator} as {role}.\n"
        "Your login is: {login}\n\n"
        "To choose your password, open this link within {days} days:\n{link}\n\n"
        "The link works once.\n",
    ),
    "fr": (
        "Vous êtes invité dans la console équipe de {operator}",
        "Bonjour,\n\n"
        "{inviter} vous a invité dans la console équipe de {operator} en tant que {role}.\n"
        "Votre identifiant : {login}\n\n"
        "Pour choisir votre mot de passe, ouvrez ce lien dans les {days} jours :\n{link}\n\n"
        "Le lien ne fonctionne qu’une fois.\n",
    ),
}
_ROLE_NAMES = {
    "en": {ROLE_ADMIN: "an admin", ROLE_TECHNICIAN: "a technician"},
    "fr": {ROLE_ADMIN: "administrateur", ROLE_TECHNICIAN: "technicien"},
}


@dataclass(frozen=True)
class StaffView:
    user: StaffUser
    mfa_enabled: bool

    @property
    def invitation_pending(self) -> bool:
        return self.user.password_hash is None


def role(value: str) -> str:
    value = value.strip().lower()
    if value not in STAFF_ROLES:
        raise InvalidArgument("choose admin or technician", field="role")
    return value


async def _view(s: AsyncSession, user: StaffUser) -> StaffView:
    return StaffView(user=user, mfa_enabled=await staff_has_mfa(s, user.id))


async def _get(s: AsyncSession, staff_user_id: str) -> StaffUser:
    user = await s.get(StaffUser, staff_user_id) if staff_user_id and len(staff_user_id) <= 36 else None
    if user is None:
        raise NotFound("no such staff member", field="staff_user_id")
    return user


async def list_staff(s: AsyncSession, *, principal: Principal) -> list[StaffView]:
    """Every staff member, active ones first, then by name."""
    require_admin(principal, MANAGE)
    users = (
        await s.scalars(
            select(StaffUser).order_by(StaffUser.disabled_at.is_not(None), func.lower(StaffUser.name), StaffUser.id)
        )
    ).all()
    return [await _view(s, u) for u in users]


async def directory(s: AsyncSession, *, principal: Principal) -> list[StaffUser]:
    """The active staff members by name, for any staff member: whom a ticket can be assigned to, and the names to
    show for assignees (nothing else of theirs)."""
    if not principal.is_staff:
        raise PermissionDenied("only staff can do this")
    return list(
        (
            await s.scalars(
                select(StaffUser)
                .where(StaffUser.disabled_at.is_(None))
                .order_by(func.lower(StaffUser.name), StaffUser.id)
            )
        ).all()
    )


async def invite(
    s: AsyncSession,
    *,
    principal: Principal,
    email: str,
    name: str,
    role_name: str,
    staff_url: str,
    idempotency_key: str = "",
    language: str = "en",
    box: SecretBox | None = None,
) -> StaffView:
    """A new staff member without a password, and an email with a single-use link to choose one (7 days).
    A repeated idempotency key returns the first result and sends nothing more."""
    require_admin(principal, MANAGE)
    scope = caller_scope("invite_staff", principal)
    key = idempotency.check_key(idempotency_key)
    if (earlier := await idempotency.earlier_result(s, scope=scope, key=key)) is not None:
        return await _view(s, await _get(s, earlier))
    chosen = role(role_name)
    email = validation.email(email)
    name = validation.text(name, field="name") or email.split("@", 1)[0]
    login_key = validation.key(email)
    user_id = new_id()
    await idempotency.claim(s, scope=scope, key=key, resource_id=user_id)
    if await s.scalar(select(StaffUser.id).where(StaffUser.login_key == login_key)) is not None:
        raise AlreadyExists("another staff member already has this email", field="email")
    user = StaffUser(
        id=user_id, login=email, login_key=login_key, email=email, name=name, password_hash=None, role=chosen
    )
    s.add(user)
    await s.flush()
    await _send_invitation(s, user=user, inviter=principal, staff_url=staff_url, language=language, box=box)
    await record(
        s,
        kind=audit_kinds.STAFF_INVITED,
        subject=f"staff:{user.id}",
        at=utcnow(),
        detail={"by": principal.subject_id, "role": chosen},
    )
    return await _view(s, user)


async def _send_invitation(
    s: AsyncSession, *, user: StaffUser, inviter: Principal, staff_url: str, language: str, box: SecretBox | None
) -> None:
    now = utcnow()
    await s.execute(
        update(StaffPasswordToken)
        .where(StaffPasswordToken.user_id == user.id, StaffPasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    value = new_session_token()
    row = StaffPasswordToken(
        token_hash=hash_session_token(value),
        purpose=PURPOSE_INVITE,
        user_id=user.id,
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    s.add(row)
    await s.flush()
    language = language if language in _INVITATION else "en"
    base = staff_url.rstrip("/")
    operator = (await get_controls(s)).operator_name or urlsplit(base).hostname or base
    subject, body = _INVITATION[language]
    values = {
        "operator": operator,
        "inviter": inviter.display_name or inviter.email or "An admin",
        "role": _ROLE_NAMES[language][user.role],
        "login": user.login,
        "days": INVITATION_TTL.days,
        # In the query string, never the path: paths get logged. The queued email is sealed with `box`.
        "link": f"{base}/staff/invitation?token={value}",
    }
    await queue_email(
        s,
        cause_event_id=row.id,
        template=STAFF_INVITATION_TEMPLATE,
        recipient=user.email,
        subject=subject.format(**values),
        body=body.format(**values),
        box=box,
    )


async def reinvite(
    s: AsyncSession,
    *,
    principal: Principal,
    staff_user_id: str,
    staff_url: str,
    language: str = "en",
    box: SecretBox | None = None,
) -> StaffView:
    """Send a staff member that has not chosen a password yet a new link (the earlier one stops working)."""
    require_admin(principal, MANAGE)
    user = await _get(s, staff_user_id)
    if user.password_hash is not None:
        raise FailedPrecondition("this staff member already chose a password", field="staff_user_id")
    await _send_invitation(s, user=user, inviter=principal, staff_url=staff_url, language=language, box=box)
    return await _view(s, user)


async def _other_active_admins(s: AsyncSession, user_id: str) -> int:
    return await s.scalar(
        select(func.count()).where(
            StaffUser.role == ROLE_ADMIN, StaffUser.disabled_at.is_(None), StaffUser.id != user_id
        )
    )


async def set_role(s: AsyncSession, *, principal: Principal, staff_user_id: str, role_name: str) -> StaffView:
    require_admin(principal, MANAGE)
    chosen = role(role_name)
    user = await _get(s, staff_user_id)
    if user.role == chosen:
        return await _view(s, user)
    if user.role == ROLE_ADMIN and not await _other_active_admins(s, user.id):
        raise FailedPrecondition(LAST_ADMIN, field="role")
    previous, user.role = user.role, chosen
    await publish.sessions_changed(s, "staff", user_ids=[user.id])
    await record(
        s,
        kind=audit_kinds.STAFF_ROLE_CHANGED,
        subject=f"staff:{user.id}",
        at=utcnow(),
        detail={"by": principal.subject_id, "from": previous, "to": chosen},
    )
    return await _view(s, user)


async def set_active(s: AsyncSession, *, principal: Principal, staff_user_id: str, active: bool) -> StaffView:
    """Deactivate (it cannot sign in and every session of it ends) or reactivate a staff member."""
    require_admin(principal, MANAGE)
    user = await _get(s, staff_user_id)
    now = utcnow()
    if active and user.disabled_at is not None:
        user.disabled_at = None
        await record(
            s,
            kind=audit_kinds.STAFF_REACTIVATED,
            subject=f"staff:{user.id}",
            at=now,
            detail={"by": principal.subject_id},
        )
    elif not active and user.disabled_at is None:
        if user.id == principal.subject_id:
            raise FailedPrecondition("you cannot deactivate yourself", field="staff_user_id")
        if user.role == ROLE_ADMIN and not await _other_active_admins(s, user.id):
            raise FailedPrecondition(LAST_ADMIN, field="staff_user_id")
        user.disabled_at = now
        revoked = await revoke_sessions(s, user_kind=KIND_STAFF, user_id=user.id, now=now, reason="staff")
        await record(
            s,
            kind=audit_kinds.STAFF_DEACTIVATED,
            subject=f"staff:{user.id}",
            at=now,
            detail={"by": principal.subject_id, "sessions_revoked": revoked},
        )
    return await _view(s, user)


async def reset_mfa(s: AsyncSession, *, principal: Principal, staff_user_id: str) -> StaffView:
    """Remove a staff member's authenticator (a lost phone); an admin is asked to enrol again at its next sign-in."""
    require_admin(principal, MANAGE)
    user = await _get(s, staff_user_id)
    await remove_staff_factor(s, staff_user_id=user.id)
    await record(
        s, kind=audit_kinds.MFA_RESET, subject=f"staff:{user.id}", at=utcnow(), detail={"by": principal.subject_id}
    )
    return await _view(s, user)


async def _live_token(s: AsyncSession, token: str, now: datetime) -> StaffPasswordToken:
    if not token or len(token) > MAX_SESSION_TOKEN:
        raise FailedPrecondition(LINK_DEAD, field="token")
    row = await s.scalar(select(StaffPasswordToken).where(StaffPasswordToken.token_hash == hash_session_token(token)))
    if row is None or row.used_at is not None or now >= row.expires_at:
        raise FailedPrecondition(LINK_DEAD, field="token")
    return row


async def check_invitation(s: AsyncSession, *, token: str) -> StaffUser:
    """The staff member a live invitation is for (the page shows its login); a dead link is refused."""
    row = await _live_token(s, token, utcnow())
    return await _get(s, row.user_id)


async def accept_invitation(db: Database, *, token: str, new_password: str, client_address: str = "") -> StaffUser:
    """Use an invitation once: set the password. The staff member then signs in (and, as an admin where MFA is
    required, enrols an authenticator)."""
    async with db.unit_of_work() as s:
        await _live_token(s, token, utcnow())
    validation.new_password(new_password, field="new_password")
    new_hash = await hash_password(new_password)
    async with db.unit_of_work() as s:
        now = utcnow()
        row = await _live_token(s, token, now)
        used = await s.execute(
            update(StaffPasswordToken)
            .where(StaffPasswordToken.id == row.id, StaffPasswordToken.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:
            raise FailedPrecondition(LINK_DEAD, field="token")
        user = await _get(s, row.user_id)
        if user.disabled_at is not None:
            raise FailedPrecondition(LINK_DEAD, field="token")
        user.password_hash = new_hash
        revoked = await revoke_sessions(s, user_kind=KIND_STAFF, user_id=user.id, now=now)
        await record(
            s,
            kind=audit_kinds.INVITATION_ACCEPTED,
            subject=f"staff:{user.id}",
            address=client_address,
            at=now,
            detail={"sessions_revoked": revoked},
        )
    log.info("staff member %s accepted its invitation", user.id)
    return user
