from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow

PURPOSE_RESET = "reset"
PURPOSE_INVITE = "invite"


class PasswordToken(Base):
    """A single-use link to set a password: a reset (SPEC P3) or an invitation (P2).

    Only the SHA-256 of the token is kept; the token itself exists only in the email that carries it."""

    __tablename__ = "password_tokens"
    __table_args__ = (Index("ix_password_tokens_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(ForeignKey("portal_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class StaffPasswordToken(Base):
    """A single-use link for a staff member to set its password: the invitation an admin sends (SPEC S1)."""

    __tablename__ = "staff_password_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
