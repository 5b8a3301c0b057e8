from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, new_id, utcnow

SCOPE_TICKET = "ticket"
SCOPE_SITE = "site"
SCOPE_CUSTOMER = "customer"
SCOPES = (SCOPE_TICKET, SCOPE_SITE, SCOPE_CUSTOMER)


class SecureLink(Base):
    """A link that opens the portal without a password, scoped to one ticket, one site or the whole customer
    (SPEC P6). Only the SHA-256 of its token is kept; the token is shown to staff once, when it is created.

    Each use, and each refused attempt, is a row of the audit log (subject "secure_link:<id>")."""

    __tablename__ = "secure_links"
    __table_args__ = (Index("ix_secure_links_customer_id_created_at", "customer_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    scope: Mapped[str] = mapped_column(String(16))
    # The ticket or site id; "" for the whole customer.
    scope_id: Mapped[str] = mapped_column(String(64), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    single_use: Mapped[bool] = mapped_column(default=False)
    # The first use; a single-use link is taken by a conditional UPDATE on it, so two visits cannot both open it.
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    use_count: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # The staff user who made it.
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
