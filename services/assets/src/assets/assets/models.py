"""Managed devices of a customer (SPEC A1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from assets.db import Base, UtcDateTime, new_id, utcnow


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    # The contact the device belongs to; None when it is the customer's ("Mine" never sees it).
    contact_id: Mapped[str | None] = mapped_column(String(36))
    site_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    serial_number: Mapped[str] = mapped_column(String(100), default="")
    asset_type: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    # A customer's assets by name with the keyset tie-breaker: one index range per page.
    __table_args__ = (Index("ix_assets_customer_name", "customer_id", "name", "id"),)
