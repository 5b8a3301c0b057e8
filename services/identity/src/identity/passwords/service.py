"""Password tokens: resets (SPEC P3), invitations (P2), login details; password changes, and revoking a user's
sessions. ("Masked credentials", SPEC A5, are a different thing, owned by assets.)

Hashing a password takes tens of milliseconds of CPU: it happens between units of work, never inside one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity import validation
from identity.access import require_staff
from identity.audit import models as audit_kinds
from identity.audit.service import record
from identity.customers.models import Customer
from identity.db import utcnow
from identity.email_templates import service as email_templates
from identity.events import publish
from identity.mail.recipients import Kind, Recipient, recipients
from identity.mail.service import queue_email
from identity.passwords.models import PURPOSE_INVITE, PURPOSE_RESET, PasswordToken
from identity.portal_controls.service import get_controls
from identity.secrets import SecretBox
from identity.sessions.models import UserSession
from identity.sessions.tokens import MAX_SESSION_TOKEN, hash_session_token, new_session_token
from identity.settings import service as portal_settings
from identity.users import service as users
from identity.users.hashing import hash_password, verify_password
from identity.users.models import PortalUser
from servicekit.db import Database
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.principal import KIND_PORTAL_USER, Principal

log = logging.getLogger(__name__)

RESET_TTL = timedelta(minutes=30)
INVITATION_TTL = timedelta(days=7)
# At most this many reset emails per user per hour, so the form cannot be used to flood someone's inbox.
RESETS_PER_HOUR = 3
LINK_DEAD = "this link has expired or has already been used; ask for a new one"
WRONG_CURRENT = "the current password is not correct"
NO_EMAIL = "the customer wants no email of any kind (its settings say so); nothing was sent"


async def _values(s: AsyncSession, user: PortalUser, portal_url: str) -> dict[str, object]:
    """What every template may say: the login, the customer's name, the portal's address, the operator's name."""
    customer = await s.get(Customer, user.customer_id)
    operator = (await get_controls(s)).operator_name or urlsplit(portal_url).hostname or portal_url
    return {
        "login": user.login,
        "customer_name": customer.display_name if customer else "",
        "portal_url": portal_url.rstrip("/"),
        "operator_name": operator,
    }


async def _account_recipients(s: AsyncSession, user: PortalUser) -> list[Recipient]:
    """The user itself, or nobody when its customer wants no email of any kind (`mail.recipients`, `Kind.ACCOUNT`)."""
    return await recipients(s, user.customer_id, Kind.ACCOUNT, user_email=user.email, user_name=user.login)


async def _queue(
    s: AsyncSession,
    *,
    template: str,
    user: PortalUser,
    cause_event_id: str,
    portal_url: str,
    values: dict[str, object],
    language: str,
    box: SecretBox | None,
) -> bool:
    """Queue an account email for the user; False, and nothing queued, when `mail.recipients` names nobody (its
    customer wants no email of any kind)."""
    to = await _account_recipients(s, user)
    if not to:
        log.info("%s for a portal user of a customer that wants no email of any kind: not sent", template)
        return False
    base_values = {**await _values(s, user, portal_url), **values}
    for recipient in to:
        # SPEC H5: the user's own language, else its customer's default, else the page's the request came from.
        rendered = await email_templates.render(
            s, name=template, language=recipient.language or language, values=base_values
        )
        await queue_email(
            s,
            cause_event_id=cause_event_id,
            template=template,
            recipient=recipient.email,
            subject=rendered.subject,
            body=rendered.text,
            html=rendered.html,
            customer_id=user.customer_id,
            box=box,
        )
    return True


async def request_reset(
    s: AsyncSession,
    *,
    login: str,
    portal_url: str,
    client_address: str = "",
    now: datetime | None = None,
    box: SecretBox | None = None,
    language: str = "en",
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
        if recent >= RESETS_PER_HOUR or not await _account_recipients(s, user):
            continue  # the caller learns nothing either way
        token = await issue_token(s, user=user, purpose=PURPOSE_RESET, ttl=RESET_TTL, now=now)
        # The token travels in the query string: paths get logged, query strings never are. The email is stored
        # sealed with `box` and blanked once sent, so the token is not readable at rest.
        await _queue(
            s,
            template=email_templates.PASSWORD_RESET,
            user=user,
            cause_event_id=token.row.id,
            portal_url=portal_url,
            values={"link": f"{portal_url.rstrip('/')}/reset?token={token.value}", "minutes": 30},
            language=language,
            box=box,
        )


async def invite(
    s: AsyncSession,
    *,
    user: PortalUser,
    portal_url: str,
    now: datetime | None = None,
    box: SecretBox | None = None,
    language: str = "en",
) -> bool:
    """Email the user a single-use link to choose its password (SPEC P2); an earlier invitation stops working.
    False, and no link made, when the user's customer wants no email of any kind."""
    if not await _account_recipients(s, user):
        return False
    token = await issue_token(s, user=user, purpose=PURPOSE_INVITE, ttl=INVITATION_TTL, now=now)
    return await _queue(
        s,
        template=email_templates.INVITATION,
        user=user,
        cause_event_id=token.row.id,
        portal_url=portal_url,
        values={"link": f"{portal_url.rstrip('/')}/invitation?token={token.value}", "days": INVITATION_TTL.days},
        language=language,
        box=box,
    )


async def invite_new_user(
    s: AsyncSession, *, user: PortalUser, password: str, portal_url: str, box: SecretBox | None = None
) -> None:
    """A portal user made without a password is invited to choose one (SPEC P2)."""
    if not password:
        await invite(s, user=user, portal_url=portal_url, box=box)


async def invite_if_always(
    s: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    contact_id: str,
    email: str,
    portal_url: str,
    box: SecretBox | None = None,
) -> None:
    """With "always invite new customers" on, a new customer or contact with an email gets a portal user and an
    invitation; a replayed create (or an email already used as a login) adds nothing, and nor does a customer that
    wants no email of any kind."""
    if not await recipients(s, customer_id, Kind.ACCOUNT, user_email=email):
        return
    if not await portal_settings.always_invite(s) or await users.login_taken(s, email):
        return
    user, _ = await users.create_portal_user(
        s,
        principal=principal,
        customer_id=customer_id,
        contact_id=contact_id,
        login=email,
        email=email,
        password="",
    )
    await invite(s, user=user, portal_url=portal_url, box=box)


async def reinvite(
    s: AsyncSession,
    *,
    principal: Principal,
    portal_user_id: str,
    portal_url: str,
    box: SecretBox | None = None,
    language: str = "en",
) -> None:
    """Staff send a portal user a new invitation (the earlier link stops working); refused, saying why, when its
    customer wants no email of any kind."""
    user = await users.portal_user(s, principal=principal, portal_user_id=portal_user_id)
    if not await invite(s, user=user, portal_url=portal_url, box=box, language=language):
        raise FailedPrecondition(NO_EMAIL, field="portal_user_id")


async def send_login_details(
    s: AsyncSession,
    *,
    principal: Principal,
    portal_user_id: str,
    portal_url: str,
    box: SecretBox | None = None,
    language: str = "en",
) -> None:
    """Staff email a portal user its login and where to sign in (the "Login Details" template); never a password."""
    require_staff(principal)
    user = await s.get(PortalUser, portal_user_id) if portal_user_id and len(portal_user_id) <= 36 else None
    if user is None:
        raise NotFound("no such portal user", field="portal_user_id")
    if not user.email:
        raise FailedPrecondition("this portal user has no email address", field="portal_user_id")
    if not await _account_recipients(s, user):
        raise FailedPrecondition(NO_EMAIL, field="portal_user_id")
    await _queue(
        s,
        template=email_templates.LOGIN_DETAILS,
        user=user,
        cause_event_id=f"login-details:{new_session_token()[:24]}",
        portal_url=portal_url,
        values={"signin_link": f"{portal_url.rstrip('/')}/signin"},
        language=language,
        box=box,
    )
    await record(
        s,
        kind="login_details_sent",
        subject=f"portal_user:{user.id}",
        at=utcnow(),
        detail={"by": principal.subject_id},
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
    s: AsyncSession,
    *,
    user_kind: str,
    user_id: str,
    now: datetime | None = None,
    keep_session_id: str = "",
    reason: str = "password",
) -> int:
    """End every live session of a user (but `keep_session_id`); returns how many ended. The gateways hear of it
    (SessionsChanged, `reason` for their metrics) when the caller's transaction commits."""
    now = now or utcnow()
    conditions = [UserSession.user_kind == user_kind, UserSession.user_id == user_id, UserSession.revoked_at.is_(None)]
    if keep_session_id:
        conditions.append(UserSession.id != keep_session_id)
    result = await s.execute(update(UserSession).where(*conditions).values(revoked_at=now))
    revoked = result.rowcount or 0
    if revoked:
        await publish.sessions_changed(s, reason, user_ids=[user_id])
    return revoked


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
