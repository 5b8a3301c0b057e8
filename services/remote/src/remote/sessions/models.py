"""Remote sessions (SPEC R1): the audit of every terminal opened on a device."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from remote.db import Base, UtcDateTime, new_id


class RemoteSession(Base):
    __tablename__ = "remote_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    asset_id: Mapped[str] = mapped_column(String(36))
    agent_id: Mapped[str] = mapped_column(String(36))
    ticket_id: Mapped[str] = mapped_column(String(36), default="")
    access_request_id: Mapped[str] = mapped_column(String(36), default="")
    opened_by_kind: Mapped[str] = mapped_column(String(16))
    opened_by: Mapped[str] = mapped_column(String(200))
    # Who may attach: the opener's principal kind and subject id.
    opener_kind: Mapped[str] = mapped_column(String(32))
    opener_subject: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attached_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str] = mapped_column(String(16), default="")
    bytes_to_device: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_from_device: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_remote_sessions_customer_started", "customer_id", "started_at", "id"),)
