"""Managed devices of a customer (SPEC A1, A2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
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
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # [{"name", "value", "editable_by_customer"}]: fields staff add per asset; a list keeps their order. A JSON
    # column rather than a table: they are read and written only with their asset, never searched.
    custom_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        # A customer's assets by name with the keyset tie-breaker: one index range per page.
        Index("ix_assets_customer_name", "customer_id", "name", "id"),
        # A site's assets (the site page; a site's delete checks it has none).
        Index("ix_assets_site", "site_id"),
        UniqueConstraint("customer_id", "idempotency_key", name="uq_assets_idempotency"),
    )
