from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow


class Contact(Base):
    """A person at a customer. The same email may be on contacts of different customers (SPEC C2)."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_customer_id_created_at", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    email_key: Mapped[str] = mapped_column(String(254), default="", index=True)
    phone: Mapped[str] = mapped_column(String(40), default="", server_default="")
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # SPEC P7: its portal access works only between these dates (UTC, inclusive); None = open-ended.
    support_start: Mapped[date | None] = mapped_column(default=None)
    support_end: Mapped[date | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
