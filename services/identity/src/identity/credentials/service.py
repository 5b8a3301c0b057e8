"""Password resets (SPEC P3), password changes, and revoking a user's sessions.

Hashing a password takes tens of milliseconds of CPU: it happens between units of work, never inside one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity import validation
from identity.audit import models as audit_kinds
from identity.audit.service import record
from identity.credentials.models import PURPOSE_INVITE, PURPOSE_RESET, PasswordToken
from identity.db import utcnow
from identity.mail import templates
from identity.mail.service import queue_email
from identity.sessions.models import UserSession
from identity.sessions.tokens import MAX_SESSION_TOKEN, hash_session_token, new_session_token
from identity.users.models import PortalUser
from identity.users.passwords import hash_password, verify_password
from servicekit.db import Database
from servicekit.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from servicekit.principal import KIND_PORTAL_USER, Principal

log = logging.getLogger(__name__)

RESET_TTL = timedelta(minutes=30)
INVITATION_TTL = timedelta(days=7)
# At most this many reset emails per user per hour, so the form cannot be used to flood someone's inbox.
RESETS_PER_HOUR = 3
LINK_DEAD = "this link has expired or has already been used; ask for a new one"
WRONG_CURRENT = "the current password is not correct"


async def request_reset(
    s: AsyncSession, *, login: str, portal_url: str, client_address: str = "", now: datetime | None = None
) -> None:
    """Email a reset link to the portal user with this login or email, if there is one; the caller learns nothing."""
    now = now or utcnow()
    login = login.strip()
    if not login or len(login) > validation.MAX_EMAIL:
        return
    key = validation.key(login)
    users = (
        await s.scalars(
            select(PortalUser).where(or_(PortalUser.login_key == key, func.lower(PortalUser.email) == key)).limit(5)
        )
    ).all()
    await record(
        s,
        kind=audit_kinds.PASSWORD_RESET_REQUESTED,
        subject=f"portal:{key}",
        address=client_address,
        at=now,
        detail={"matched": len(users)},
    )
    for user in users:
        recent = await s.scalar(
            select(func.count()).where(
                PasswordToken.user_id == user.id,
                PasswordToken.purpose == PURPOSE_RESET,
                PasswordToken.created_at >= now - timedelta(hours=1),
            )
        )
        if recent >= RESETS_PER_HOUR:
            continue
        token = await issue_token(s, user=user, purpose=PURPOSE_RESET, ttl=RESET_TTL, now=now)
        # The token travels in the query string: paths get logged, query strings never are.
        rendered = templates.password_reset(link=f"{portal_url.rstrip('/')}/reset?token={token.value}", minutes=30)
        await queue_email(
            s,
            cause_event_id=token.row.id,
            template=templates.PASSWORD_RESET,
            recipient=user.email,
            subject=rendered.subject,
            body=rendered.body,
            customer_id=user.customer_id,
        )


async def invite(s: AsyncSession, *, user: PortalUser, portal_url: str, now: datetime | None = None) -> None:
    """Email the user a single-use link to choose its password (SPEC P2); an earlier invitation stops working."""
    token = await issue_token(s, user=user, purpose=PURPOSE_INVITE, ttl=INVITATION_TTL, now=now)
    rendered = templates.invitation(
        link=f"{portal_url.rstrip('/')}/invitation?token={token.value}", days=INVITATION_TTL.days, login=user.login
    )
    await queue_email(
        s,
        cause_event_id=token.row.id,
        template=templates.INVITATION,
        recipient=user.email,
        subject=rendered.subject,
        body=rendered.body,
        customer_id=user.customer_id,
    )


class IssuedToken:
    def __init__(self, value: str, row: PasswordToken) -> None:
        self.value = value
        self.row = row


async def issue_token(
    s: AsyncSession, *, user: PortalUser, purpose: str, ttl: timedelta, now: datetime | None = None
) -> IssuedToken:
    """A new single-use token for `user`; earlier unused tokens of the same purpose stop working."""
    now = now or utcnow()
    await s.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.purpose == purpose, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    value = new_session_token()
    row = PasswordToken(
        token_hash=hash_session_token(value), purpose=purpose, user_id=user.id, created_at=now, expires_at=now + ttl
    )
    s.add(row)
    await s.flush()
    return IssuedToken(value, row)


async def _live_token(s: AsyncSession, token: str, now: datetime) -> PasswordToken:
    if not token or len(token) > MAX_SESSION_TOKEN:
        raise FailedPrecondition(LINK_DEAD, field="token")
    row = await s.scalar(select(PasswordToken).where(PasswordToken.token_hash == hash_session_token(token)))
    if row is None or row.used_at is not None or now >= row.expires_at:
        raise FailedPrecondition(LINK_DEAD, field="token")
    return row


async def check_token(s: AsyncSession, *, token: str, now: datetime | None = None) -> str:
    """The purpose of a live token (for the page that asks for the new password); a dead one is refused."""
    return (await _live_token(s, token, now or utcnow())).purpose


async def set_password_with_token(
    db: Database, *, token: str, new_password: str, client_address: str = ""
) -> PortalUser:
    """Use a reset or invitation token once: set the password and end every session of the user."""
    async with db.unit_of_work() as s:
        await _live_token(s, token, utcnow())
    validation.new_password(new_password, field="new_password")
    new_hash = await hash_password(new_password)
    async with db.unit_of_work() as s:
        now = utcnow()
        row = await _live_token(s, token, now)
        # The conditional update is what makes the token single-use when two requests race.
        used = await s.execute(
            update(PasswordToken).where(PasswordToken.id == row.id, PasswordToken.used_at.is_(None)).values(used_at=now)
        )
        if used.rowcount != 1:
            raise FailedPrecondition(LINK_DEAD, field="token")
        user = await s.get(PortalUser, row.user_id)
        assert user is not None
        user.password_hash = new_hash
        revoked = await revoke_sessions(s, user_kind=KIND_PORTAL_USER, user_id=user.id, now=now)
        kind = audit_kinds.PASSWORD_RESET if row.purpose == PURPOSE_RESET else audit_kinds.INVITATION_ACCEPTED
        await record(
            s,
            kind=kind,
            subject=f"portal_user:{user.id}",
            address=client_address,
            at=now,
            detail={"sessions_revoked": revoked},
        )
    log.info("password set with a %s link for portal user %s", row.purpose, user.id)
    return user


async def change_password(
    db: Database, *, principal: Principal, current_password: str, new_password: str, client_address: str = ""
) -> int:
    """A signed-in portal user replaces its password; every other session of the user ends. Returns how many."""
    if principal.kind != KIND_PORTAL_USER:
        raise PermissionDenied("only portal users change their password here")
    if not current_password:
        raise InvalidArgument("enter your current password", field="current_password")
    if len(current_password) > validation.MAX_PASSWORD:
        raise InvalidArgument(WRONG_CURRENT, field="current_password")
    validation.new_password(new_password, field="new_password")
    async with db.unit_of_work() as s:
        user = await s.get(PortalUser, principal.subject_id)
        current_hash = user.password_hash if user else None
    ok, _ = await verify_password(current_hash, current_password)
    if not ok:
        async with db.unit_of_work() as s:
            await record(
                s,
                kind=audit_kinds.PASSWORD_CHANGE_FAILED,
                subject=f"portal_user:{principal.subject_id}",
                address=client_address,
                at=utcnow(),
            )
        raise InvalidArgument(WRONG_CURRENT, field="current_password")
    new_hash = await hash_password(new_password)
    async with db.unit_of_work() as s:
        now = utcnow()
        user = await s.get(PortalUser, principal.subject_id)
        if user is None or user.password_hash != current_hash:
            raise FailedPrecondition("the password was changed in the meantime; sign in again")
        user.password_hash = new_hash
        revoked = await revoke_sessions(
            s, user_kind=KIND_PORTAL_USER, user_id=user.id, now=now, keep_session_id=principal.session_id
        )
        await record(
            s,
            kind=audit_kinds.PASSWORD_CHANGED,
            subject=f"portal_user:{user.id}",
            address=client_address,
            at=now,
            detail={"sessions_revoked": revoked},
        )
    return revoked


async def revoke_sessions(
    s: AsyncSession, *, user_kind: str, user_id: str, now: datetime | None = None, keep_session_id: str = ""
) -> int:
    """End every live session of a user (but `keep_session_id`); returns how many ended."""
    now = now or utcnow()
    conditions = [UserSession.user_kind == user_kind, UserSession.user_id == user_id, UserSession.revoked_at.is_(None)]
    if keep_session_id:
        conditions.append(UserSession.id != keep_session_id)
    result = await s.execute(update(UserSession).where(*conditions).values(revoked_at=now))
    return result.rowcount or 0


__all__ = [
    "LINK_DEAD",
    "PURPOSE_INVITE",
    "PURPOSE_RESET",
    "RESET_TTL",
    "change_password",
    "check_token",
    "issue_token",
    "request_reset",
    "revoke_sessions",
    "set_password_with_token",
]
