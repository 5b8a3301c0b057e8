"""Estimates and their lines. Once approved or declined an estimate is frozen."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, UtcDateTime, new_id, utcnow

# Staff's until sent: the portal does not list it and it cannot be decided. sent_on is the day it was made until
# it is sent.
DRAFT = "draft"
OPEN = "open"
APPROVED = "approved"
DECLINED = "declined"


class Estimate(Base):
    __tablename__ = "estimates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    sent_on: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(36))
    # The decider's name as the principal carried it then (staff see who decided without asking identity).
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    # The decider's optional reason (DecideEstimateRequest.reason), shown to staff.
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    lines: Mapped[list[EstimateLine]] = relationship(
        order_by="EstimateLine.position", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'approved', 'declined')", name="status"),
        Index("ix_estimates_customer_sent", "customer_id", "sent_on", "id"),
    )


class EstimateLine(Base):
    __tablename__ = "estimate_lines"

    estimate_id: Mapped[str] = mapped_column(ForeignKey("estimates.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
