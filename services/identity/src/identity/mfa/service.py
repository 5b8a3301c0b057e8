"""MFA (SPEC P4): TOTP enrolment with a QR code, ten single-use recovery codes stored hashed, the second step
of a sign-in, and the staff actions "Require MFA" and "Reset MFA".

The session-token functions run their own units of work, like sign_in: a wrong code's audit row must be
committed although the call fails.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.access import require_staff
from identity.audit import models as audit_kinds
from identity.audit.models import AuditEntry
from identity.audit.service import record
from identity.db import utcnow
from identity.events import publish
from identity.mfa.models import MfaFactor, RecoveryCode, StaffMfaFactor, StaffRecoveryCode
from identity.secrets import SecretBox, is_sealed
from identity.sessions.models import PENDING_MFA, UserSession
from identity.sessions.service import SESSION_ENDED, SessionPolicy, ends_at
from identity.sessions.tokens import MAX_SESSION_TOKEN, hash_session_token
from identity.users.models import PortalUser, StaffUser
from servicekit.db import Database
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

log = logging.getLogger(__name__)

RECOVERY_CODES = 10
# A session that gets this many wrong codes ends; the attacker must get past the password lock-out again.
MAX_WRONG_CODES = 5
STEP_SECONDS = 30
WRONG_CODE = "that code is not correct; check the time on your device and try again"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_SEPARATORS = re.compile(r"[\s-]+")


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalise(code: str) -> str:
    return _SEPARATORS.sub("", code).lower()[:64]


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def totp_step(secret: str, code: str, *, last_step: int, now: datetime) -> int | None:
    """The time step `code` belongs to (now ±1 step for clock drift), if newer than `last_step`."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _seal(secret: str, box: SecretBox | None) -> str:
    return box.seal(secret) if box is not None else secret


def _plain(stored: str, box: SecretBox | None) -> str:
    """The base32 secret; a row from before secrets were encrypted is still read (until it is migrated)."""
    if not is_sealed(stored):
        return stored
    if box is None:
        raise FailedPrecondition("two-step verification cannot be checked right now")
    return box.open(stored)


async def encrypt_legacy_secrets(db: Database, box: SecretBox) -> int:
    """Encrypt TOTP secrets stored in plain text before identity encrypted them (migration 0009). Returns how many."""
    async with db.unit_of_work() as s:
        factors = (await s.scalars(select(MfaFactor).where(~MfaFactor.secret.startswith("fernet:")))).all()
        for factor in factors:
            factor.secret = box.seal(factor.secret)
    if factors:
        log.info("encrypted %d TOTP secrets stored before encryption at rest", len(factors))
    return len(factors)


async def _session(s: AsyncSession, token: str, policy: SessionPolicy, now: datetime) -> UserSession:
    if not token or len(token) > MAX_SESSION_TOKEN:
        raise Unauthenticated(SESSION_ENDED)
    session = await s.scalar(select(UserSession).where(UserSession.token_hash == hash_session_token(token)))
    if session is None or session.revoked_at is not None or now >= ends_at(session, policy):
        raise Unauthenticated(SESSION_ENDED)
    if session.user_kind not in _MODELS:
        raise FailedPrecondition("MFA is for portal users and staff")
    return session


# Portal users and staff (SPEC S1) keep their authenticators in tables of their own, with the same rules.
_MODELS = {
    KIND_PORTAL_USER: (PortalUser, MfaFactor, RecoveryCode),
    KIND_STAFF: (StaffUser, StaffMfaFactor, StaffRecoveryCode),
}


async def mfa_enabled(s: AsyncSession, session: UserSession) -> bool:
    """Whether the session's user has a confirmed authenticator (ResolveSessionResponse.mfa_enabled)."""
    models = _MODELS.get(session.user_kind)
    if models is None:
        return False
    factor = await s.get(models[1], session.user_id)
    return factor is not None and factor.confirmed_at is not None


def _subject(session: UserSession) -> str:
    return f"{session.user_kind}:{session.user_id}"


async def _wrong_code(db: Database, session_id: str, address: str) -> None:
    """Audit a wrong code; the session ends at the MAX_WRONG_CODES-th."""
    async with db.unit_of_work() as s:
        now = utcnow()
        subject = f"session:{session_id}"
        await record(s, kind=audit_kinds.MFA_FAILED, subject=subject, address=address, at=now)
        await s.flush()
        wrong = await s.scalar(
            select(func.count()).where(AuditEntry.kind == audit_kinds.MFA_FAILED, AuditEntry.subject == subject)
        )
        if wrong >= MAX_WRONG_CODES:
            session = await s.get(UserSession, session_id)
            if session is not None and session.revoked_at is None:
                session.revoked_at = now
    if wrong >= MAX_WRONG_CODES:
        raise Unauthenticated("too many wrong codes; sign in again")
    raise InvalidArgument(WRONG_CODE, field="code")


async def begin_enrolment(
    db: Database, *, token: str, policy: SessionPolicy, issuer: str, box: SecretBox | None = None
) -> Enrolment:
    """A new, unconfirmed TOTP secret for the session's user (replacing an unconfirmed one)."""
    async with db.unit_of_work() as s:
        now = utcnow()
        session = await _session(s, token, policy, now)
        if session.pending == PENDING_MFA:
            raise FailedPrecondition("enter the code from your authenticator app first")
        user_model, factor_model, _ = _MODELS[session.user_kind]
        user = await s.get(user_model, session.user_id)
        if user is None:
            raise Unauthenticated(SESSION_ENDED)
        factor = await s.get(factor_model, user.id)
        if factor is not None and factor.confirmed_at is not None:
            raise FailedPrecondition("two-step verification is already set up for this account")
        secret = pyotp.random_base32()
        if factor is None:
            s.add(factor_model(user_id=user.id, secret=_seal(secret, box), last_step=0, created_at=now))
        else:
            factor.secret, factor.last_step, factor.created_at = _seal(secret, box), 0, now
        login = user.login
    uri = pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=issuer)
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=svg)


async def confirm_enrolment(
    db: Database, *, token: str, code: str, policy: SessionPolicy, address: str = "", box: SecretBox | None = None
) -> list[str]:
    """Confirm the factor with a first code; the session is signed in and gets ten new recovery codes."""
    code = _normalise(code)
    async with db.unit_of_work() as s:
        now = utcnow()
        session = await _session(s, token, policy, now)
        if session.pending == PENDING_MFA:
            raise FailedPrecondition("enter the code from your authenticator app first")
        _, factor_model, recovery_model = _MODELS[session.user_kind]
        factor = await s.get(factor_model, session.user_id)
        if factor is None or factor.confirmed_at is not None:
            raise FailedPrecondition("start the set-up again")
        step = totp_step(_plain(factor.secret, box), code, last_step=factor.last_step, now=now)
        session_id = session.id
        if step is not None:
            factor.confirmed_at, factor.last_step = now, step
            codes = await _new_recovery_codes(s, factor.user_id, recovery_model)
            session.pending = ""
            # The user's other sessions now show two-step verification as on.
            await publish.sessions_changed(s, "mfa", user_ids=[session.user_id])
            await record(s, kind=audit_kinds.MFA_ENROLLED, subject=_subject(session), address=address, at=now)
    if step is None:
        await _wrong_code(db, session_id, address)
    return codes


async def _new_recovery_codes(s: AsyncSession, user_id: str, model: type = RecoveryCode) -> list[str]:
    await s.execute(delete(model).where(model.user_id == user_id))
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    s.add_all(model(user_id=user_id, code_hash=_hash_code(_normalise(c))) for c in codes)
    return codes


async def verify_code(
    db: Database, *, token: str, code: str, policy: SessionPolicy, address: str = "", box: SecretBox | None = None
) -> int:
    """The second step of a sign-in: a TOTP code or a recovery code, each accepted once. Returns recovery codes left."""
    code = _normalise(code)
    if not code:
        raise InvalidArgument("enter the code from your authenticator app", field="code")
    async with db.unit_of_work() as s:
        now = utcnow()
        session = await _session(s, token, policy, now)
        if session.pending != PENDING_MFA:
            raise FailedPrecondition("this session is not waiting for a code")
        _, factor_model, recovery_model = _MODELS[session.user_kind]
        factor = await s.get(factor_model, session.user_id)
        if factor is None or factor.confirmed_at is None:
            raise FailedPrecondition("two-step verification is not set up; sign in again")
        session_id, ok, kind = session.id, False, audit_kinds.MFA_VERIFIED
        step = totp_step(_plain(factor.secret, box), code, last_step=factor.last_step, now=now)
        if step is not None:
            factor.last_step, ok = step, True
        else:
            recovery = await s.scalar(
                select(recovery_model).where(
                    recovery_model.user_id == factor.user_id,
                    recovery_model.code_hash == _hash_code(code),
                    recovery_model.used_at.is_(None),
                )
            )
            if recovery is not None:
                recovery.used_at, ok, kind = now, True, audit_kinds.MFA_RECOVERY_CODE_USED
        left = 0
        if ok:
            session.pending = ""
            await record(s, kind=kind, subject=_subject(session), address=address, at=now)
            left = await s.scalar(
                select(func.count()).where(recovery_model.user_id == factor.user_id, recovery_model.used_at.is_(None))
            )
    if not ok:
        await _wrong_code(db, session_id, address)
    return left


async def reset_mfa(s: AsyncSession, *, principal: Principal, portal_user_id: str) -> None:
    """Staff remove a user's authenticator and recovery codes (a lost phone)."""
    require_staff(principal)
    user = await s.get(PortalUser, portal_user_id) if portal_user_id and len(portal_user_id) <= 36 else None
    if user is None:
        raise NotFound("no such portal user", field="portal_user_id")
    await s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await s.execute(delete(MfaFactor).where(MfaFactor.user_id == user.id))
    await publish.sessions_changed(s, "mfa", user_ids=[user.id])
    await record(
        s,
        kind=audit_kinds.MFA_RESET,
        subject=f"portal_user:{user.id}",
        at=utcnow(),
        detail={"by": principal.subject_id},
    )


async def remove_staff_factor(s: AsyncSession, *, staff_user_id: str) -> None:
    """Remove a staff member's authenticator and recovery codes (the caller checked that an admin asks)."""
    await s.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == staff_user_id))
    await s.execute(delete(StaffMfaFactor).where(StaffMfaFactor.user_id == staff_user_id))
    await publish.sessions_changed(s, "mfa", user_ids=[staff_user_id])


async def staff_has_mfa(s: AsyncSession, staff_user_id: str) -> bool:
    factor = await s.get(StaffMfaFactor, staff_user_id)
    return factor is not None and factor.confirmed_at is not None


async def set_require_mfa(s: AsyncSession, *, principal: Principal, portal_user_id: str, required: bool) -> None:
    require_staff(principal)
    user = await s.get(PortalUser, portal_user_id) if portal_user_id and len(portal_user_id) <= 36 else None
    if user is None:
        raise NotFound("no such portal user", field="portal_user_id")
    user.require_mfa = required
    await record(
        s,
        kind=audit_kinds.MFA_REQUIRED_CHANGED,
        subject=f"portal_user:{user.id}",
        at=utcnow(),
        detail={"by": principal.subject_id, "required": required},
    )
