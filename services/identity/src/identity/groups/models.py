from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow


class PermissionGroup(Base):
    """A portal user permission group (SPEC P5); every portal user is in exactly one."""

    __tablename__ = "permission_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Permission names from servicekit.permissions.
    permissions: Mapped[list[str]] = mapped_column(default=list)
    built_in: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
