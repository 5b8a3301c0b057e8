"""Masked credentials and their access log (SPEC A5, X8)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assets.db import Base, UtcDateTime, new_id, utcnow


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    # A customer document (documents live in this service too, built separately): an id, not a foreign key.
    document_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(320), default="")
    url: Mapped[str] = mapped_column(String(2000), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # Envelope encryption (credentials.crypto): the data key wrapped by master key `key_id`, and the password
    # encrypted by the data key. Never read outside crypto and the reveal.
    key_id: Mapped[str] = mapped_column(String(40))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_credentials_customer_name", "customer_id", "name", "id"),
        # Rotation walks the rows still wrapped by an old key.
        Index("ix_credentials_key_id", "key_id"),
        UniqueConstraint("customer_id", "created_by", "idempotency_key", name="uq_credentials_idempotency"),
    )


class CredentialAccess(Base):
    """One reveal: who, when, from where. Kept when the credential is deleted (the report outlives it)."""

    __tablename__ = "credential_access"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    credential_id: Mapped[str] = mapped_column(String(36))
    credential_name: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[str] = mapped_column(String(36))
    principal_kind: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[str] = mapped_column(String(64))
    principal_name: Mapped[str] = mapped_column(String(320))
    client_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    revealed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_credential_access_credential", "credential_id", "revealed_at", "id"),
        Index("ix_credential_access_customer", "customer_id", "revealed_at", "id"),
        Index("ix_credential_access_time", "revealed_at", "id"),
    )
