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
# A pending payment the reconciler found no charge for (the processor never made one): the intent is over, and a
# charge that still turns up for it later is refunded (see payments/reconciler.py).
VOIDED = "voided"


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
    # The payer's language ("en", "fr"; "" = English), so the receipt is in it whoever finishes the payment.
    language: Mapped[str] = mapped_column(String(5), default="", server_default="")
    # What refunds have given back of the charge (their succeeded rows' sum, kept here to bound the next one).
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    allocations: Mapped[list[PaymentAllocation]] = relationship(
        order_by="PaymentAllocation.position", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'voided')", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        UniqueConstraint("customer_id", "idempotency_key"),
        Index("ix_payments_customer_created", "customer_id", "created_at", "id"),
        # The reconciler's scan: pending payments older than a bound, and recently voided ones.
        Index("ix_payments_pending", "status", "created_at"),
    )


class Refund(Base):
    """Money given back from a payment's charge: by staff, or by the reconciler for a charge that turned up for a
    voided payment. Written pending before the processor is called, with `portal-refund-<id>` as the
    processor's idempotency key, like a payment."""

    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text, default="")
    processor_refund_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    # A staff member's id, or "reconciler".
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index("ix_refunds_payment", "payment_id", "created_at"),
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
