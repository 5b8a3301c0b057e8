"""Device agents (SPEC R3) and the one-time enrolment tokens staff create for an asset."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from remote.db import Base, UtcDateTime, new_id


class EnrolmentToken(Base):
    __tablename__ = "enrolment_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # sha256 of the token, hex; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    asset_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(36))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(String(36))
    customer_id: Mapped[str] = mapped_column(String(36))
    # Raw 32-byte Ed25519 public key.
    public_key: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    os: Mapped[str] = mapped_column(String(32), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    enrolled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The replica holding the agent's stream and that stream's id (a second connection replaces the first);
    # both None while offline.
    connected_replica: Mapped[str | None] = mapped_column(String(100))
    connection_id: Mapped[str | None] = mapped_column(String(36))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_agents_asset", "asset_id"),
        Index("ix_agents_customer", "customer_id"),
    )
