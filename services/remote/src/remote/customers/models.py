"""What remote knows of identity's customers: whether remote access is enabled (SPEC C3), from identity's events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from remote.db import Base, UtcDateTime


class CustomerSettings(Base):
    __tablename__ = "customer_settings"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    remote_access_enabled: Mapped[bool] = mapped_column(default=False)
    # occurred_at of the event applied last: an older event redelivered late changes nothing.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
