from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
SIGN_IN_THROTTLED = "sign_in_throttled"
SIGN_IN_REFUSED = "sign_in_refused"
PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105 (an audit kind)
PASSWORD_RESET = "password_reset"  # noqa: S105 (an audit kind)
PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an audit kind)
PASSWORD_CHANGE_FAILED = "password_change_failed"  # noqa: S105 (an audit kind)
INVITATION_ACCEPTED = "invitation_accepted"
SESSIONS_REVOKED = "sessions_revoked"
MFA_ENROLLED = "mfa_enrolled"
MFA_VERIFIED = "mfa_verified"
MFA_FAILED = "mfa_failed"
MFA_RECOVERY_CODE_USED = "mfa_recovery_code_used"
MFA_RESET = "mfa_reset"
MFA_REQUIRED_CHANGED = "mfa_required_changed"
GROUP_CREATED = "group_created"
GROUP_UPDATED = "group_updated"
GROUP_DELETED = "group_deleted"
USER_GROUP_CHANGED = "user_group_changed"
STAFF_INVITED = "staff_invited"
STAFF_ROLE_CHANGED = "staff_role_changed"
STAFF_DEACTIVATED = "staff_deactivated"
STAFF_REACTIVATED = "staff_reactivated"


class AuditEntry(Base):
    """Something security-relevant that happened: sign-ins, failures, sign-outs (later MFA, groups, links)."""

    __tablename__ = "audit_log"
    # Lock-out counts recent failures per login and per address.
    __table_args__ = (
        Index("ix_audit_log_kind_subject_at", "kind", "subject", "at"),
        Index("ix_audit_log_kind_address_at", "kind", "address", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(40))
    # What it is about, e.g. "portal:alice@acme.test" for a sign-in attempt.
    subject: Mapped[str] = mapped_column(String(300))
    address: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # Never a password or token.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
