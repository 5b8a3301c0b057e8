from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    business_name: Mapped[str] = mapped_column(String(200), default="")
    # SPEC H5: the language of its users who have not chosen one (emails, pages); "" is English.
    language: Mapped[str] = mapped_column(String(8), default="", server_default="")
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased email: unique among customers regardless of how it was typed.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SPEC C5: an archived customer's portal users cannot sign in; staff can re-enable it.
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    # SPEC P10 / C3: which kinds of email the customer wants; it manages them from the portal.
    receive_billing_emails: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    receive_marketing_emails: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    receive_report_emails: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # SPEC C6: the parent organisation; a portal user's "All" covers the customer and its subsidiaries.
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True, default=None)
    # SPEC C1: [{"type": "mobile", "number": "..."}] and [{"type": "billing", "line1": ..., ...}], in order.
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    addresses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    # SPEC C3. None: the default tax rate / invoice terms apply.
    tax_rate_bp: Mapped[int | None] = mapped_column(default=None)
    tax_free: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    invoice_terms_days: Mapped[int | None] = mapped_column(default=None)
    remote_access_enabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    sms_enabled: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # No email of any kind, to the customer or its contacts.
    no_email: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    notification_emails: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    invoice_cc_emails: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    ticket_matching_emails: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    internal_ticket_warning: Mapped[str] = mapped_column(Text, default="", server_default="")

    @property
    def display_name(self) -> str:
        return display_name(self.business_name, self.first_name, self.last_name)


def display_name(business_name: str, first_name: str, last_name: str) -> str:
    """Business name wins; otherwise first and last name (SPEC C1)."""
    return business_name or " ".join(p for p in (first_name, last_name) if p)
