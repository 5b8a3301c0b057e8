from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, utcnow


class EmailTemplate(Base):
    """A staff-customised email (invitation, password reset, login details) in one language; without a row the
    default text applies."""

    __tablename__ = "email_templates"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
