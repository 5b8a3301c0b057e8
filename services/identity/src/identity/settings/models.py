from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base


class PortalSetting(Base):
    """One global portal setting (SPEC P2, later P8, P12, H3), stored as JSON under its name."""

    __tablename__ = "portal_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
