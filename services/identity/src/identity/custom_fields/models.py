"""Custom fields on customers (SPEC C4): their definitions and each customer's answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow

TEXT = "text"
DROPDOWN = "dropdown"
TYPES = (TEXT, DROPDOWN)


class CustomField(Base):
    __tablename__ = "custom_fields"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    # Lower-cased name: two fields cannot be told apart by case alone.
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    # Dropdown answers in order: [{"value": "Residential", "badge_label": "R", "badge_color": "#2a7"}].
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomFieldValue(Base):
    """One customer's answer to one field."""

    __tablename__ = "customer_field_values"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("custom_fields.id"), primary_key=True, index=True)
    value: Mapped[str] = mapped_column(String(500))
