"""Payments, their allocation to invoices, and stored payment profiles (processor tokens only).

No column here can hold a card number: profiles keep the processor's token, brand, last four and expiry.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, UtcDateTime, new_id, utcnow

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    # The client's key for this payment attempt; unique per customer, so two replicas cannot both insert it.
    idempotency_key: Mapped[str] = mapped_column(String(100))
    # A digest of what was asked (allocations and method), so a key reused for a different payment is refused.
    request_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    processor_token: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(60), default="")
    charge_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    allocations: Mapped[list[PaymentAllocation]] = relationship(
        order_by="PaymentAllocation.position", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        UniqueConstraint("customer_id", "idempotency_key"),
        Index("ix_payments_customer_created", "customer_id", "created_at", "id"),
    )


class PaymentAllocation(Base):
    __tablename__ = "payment_allocations"

    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_payment_allocations_invoice", "invoice_id"),
    )


class PaymentProfile(Base):
    __tablename__ = "payment_profiles"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(8))
    processor_token: Mapped[str] = mapped_column(String(100), unique=True)
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer, default=0)
    exp_year: Mapped[int] = mapped_column(Integer, default=0)
    nickname: Mapped[str] = mapped_column(String(60), default="")
    reminder_on: Mapped[date | None]
    # SPEC B2: the expiration reminder can be edited once.
    reminder_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("kind IN ('card', 'ach')", name="kind"),
        Index("ix_payment_profiles_customer", "customer_id", "created_at"),
    )
