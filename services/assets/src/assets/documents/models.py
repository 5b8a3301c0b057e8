"""Documents: a file on a customer. The bytes live in the blob store under `blob_key`; the row says who may
see them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from assets.db import Base, UtcDateTime, new_id, utcnow


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(64))
    # '' when the file has no preview.
    thumbnail_key: Mapped[str] = mapped_column(String(64), default="")
    # Public documents appear in the customer's portal; internal ones only to staff.
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_by_kind: Mapped[str] = mapped_column(String(20))
    # The upload's Idempotency-Key; unique per customer and uploader, '' when none was given.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        # A customer's documents oldest first, with the keyset tie-breaker (the portal's home and View All).
        Index("ix_documents_customer_created", "customer_id", "created_at", "id"),
        Index("uq_documents_idempotency", "customer_id", "uploaded_by", "idempotency_key", unique=True),
    )
