"""The script catalogue (SPEC R2, X2): what staff may run on a device, and what the portal offers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from remote.db import Base, UtcDateTime, new_id

SHELL = "shell"
PYTHON = "python"
LANGUAGES = (SHELL, PYTHON)


class Script(Base):
    __tablename__ = "scripts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    # [{"name", "label", "default_value", "required"}, ...]
    variables: Mapped[list] = mapped_column(JSON, default=list)
    timeout_seconds: Mapped[int] = mapped_column(default=300)
    portal: Mapped[bool] = mapped_column(default=False)
    portal_name: Mapped[str] = mapped_column(String(200), default="")
    portal_confirmation: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint("language IN ('shell', 'python')", name="language"),)


class IdempotencyKey(Base):
    """What a principal's idempotency key first made (a script, a run, an access request)."""

    __tablename__ = "idempotency_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # "<kind>:<subject_id>" of the principal.
    principal: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    result_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("principal", "scope", "key", name="principal_scope_key"),)
