"""Invoices and their lines. Money is integer minor units plus the invoice's ISO 4217 currency."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billing.db import Base, UtcDateTime, new_id, utcnow

# A draft is staff's only: invisible to the portal, not payable, without a number until it is sent (numbers are
# given in the order invoices reach customers, so a discarded draft leaves no gap).
DRAFT = "draft"
OPEN = "open"
PAID = "paid"
VOID = "void"
STATUSES = (DRAFT, OPEN, PAID, VOID)


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # None while a draft.
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    # The contact the invoice is for; None when it is for the customer as a whole ("Mine" never sees it).
    contact_id: Mapped[str | None] = mapped_column(String(36))
    issued_on: Mapped[date]
    due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(8), default=OPEN)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Basis points of the customer's rate when the invoice was made; 0 for a tax-free customer.
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    # The ticket the invoice bills, if any (owned by the tickets service; no foreign key across services).
    ticket_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # When staff sent it (drafts: None); issued_on is that day unless staff dated it otherwise.
    sent_on: Mapped[date | None]
    voided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    voided_by: Mapped[str | None] = mapped_column(String(36))

    # lazy="raise": an async session cannot lazy-load, so a forgotten eager load fails loudly in tests.
    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.position", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'paid', 'void')", name="status"),
        # Open invoices of a customer, oldest first, with the keyset tie-breaker: one index range per page.
        Index("ix_invoices_customer_status_issued", "customer_id", "status", "issued_on", "id"),
        # View All: a customer's invoices newest first.
        Index("ix_invoices_customer_issued", "customer_id", "issued_on", "id"),
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    # Hours of labour are fractional; quantity is exact decimal, never a float.
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
