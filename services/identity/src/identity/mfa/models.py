from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow


class MfaFactor(Base):
    """A portal user's TOTP authenticator (RFC 6238); unconfirmed until a first code proves the app has it."""

    __tablename__ = "mfa_factors"

    user_id: Mapped[str] = mapped_column(ForeignKey("portal_users.id"), primary_key=True)
    # The base32 secret encrypted with identity's secrets key (identity.secrets); never logged and never
    # returned after enrolment.
    secret: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The newest time step a code was accepted for: a code (and any older one) never works twice.
    last_step: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """One single-use recovery code, kept only as a SHA-256 hash."""

    __tablename__ = "mfa_recovery_codes"
    __table_args__ = (Index("ix_mfa_recovery_codes_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("portal_users.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class StaffMfaFactor(Base):
    """A staff member's TOTP authenticator; the same rules as MfaFactor (required for admins, SPEC S1)."""

    __tablename__ = "staff_mfa_factors"

    user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_step: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffRecoveryCode(Base):
    """One single-use recovery code of a staff member, kept only as a SHA-256 hash."""

    __tablename__ = "staff_mfa_recovery_codes"
    __table_args__ = (Index("ix_staff_mfa_recovery_codes_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(default=None)
