from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow

AUDIENCE_PORTAL = "portal"
AUDIENCE_STAFF = "staff"
PENDING_MFA = "mfa"
PENDING_ENROL = "enrol"


class UserSession(Base):
    """A signed-in browser. Only the SHA-256 of its opaque token is kept, never the token."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_kind_user_id", "user_kind", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    audience: Mapped[str] = mapped_column(String(16))
    # servicekit.principal.KIND_PORTAL_USER or KIND_STAFF
    user_kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(36))
    client_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The absolute limit; the idle limit is last_seen_at + the configured idle time.
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # "" when signed in; PENDING_MFA or PENDING_ENROL while the second factor is outstanding (it then
    # resolves to no principal).
    pending: Mapped[str] = mapped_column(String(16), default="", server_default="")
