"""Billing's copy of a customer's settings (SPEC B9): tax rate or tax-free, and default invoice terms.

Identity owns them (customer settings, SPEC C3) and publishes every change as customer_updated; billing's consumer
keeps this copy, which invoices use. Nothing else writes these columns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db import Base, UtcDateTime, utcnow

DEFAULT_TERMS_DAYS = 30


class CustomerBilling(Base):
    __tablename__ = "customer_billing"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Basis points: 825 is 8.25 %. Integer, so tax is exact.
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0)
    tax_free: Mapped[bool] = mapped_column(Boolean, default=False)
    terms_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_TERMS_DAYS)
    # When identity's change applied here happened (its event's occurred_at): an older event arriving later is
    # ignored. None while no event arrived (the row may exist only as payments' per-customer lock).
    settings_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class StaffRequest(Base):
    """One row per staff idempotency key and operation (invoice, estimate, credit): the digest of the request that
    first used it and the id of what it made. Written in the transaction that makes the record, so a key yields
    one record however many replicas receive it."""

    __tablename__ = "staff_requests"

    operation: Mapped[str] = mapped_column(String(16), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    result_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(36), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Counter(Base):
    """Per-kind number sequences (invoice and estimate numbers), safe with several replicas."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
