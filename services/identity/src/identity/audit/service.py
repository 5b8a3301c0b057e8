"""Writing the audit log. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit.models import AuditEntry


async def record(
    s: AsyncSession, *, kind: str, subject: str, address: str = "", at: datetime, detail: dict[str, Any] | None = None
) -> None:
    """Append one entry; `detail` must never hold a password or token."""
    s.add(AuditEntry(kind=kind, subject=subject[:300], address=address[:64], at=at, detail=detail or {}))
