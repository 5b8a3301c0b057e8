"""Writing the audit log. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit import models
from identity.audit.models import AuditEntry
from servicekit.errors import InvalidArgument
from servicekit.pagination import keyset, keyset_cursor, page_size
from servicekit.principal import Principal, require_admin

# Every kind the log holds, for the staff filter (a kind outside it is refused by name).
KINDS = tuple(sorted(v for k, v in vars(models).items() if k.isupper() and isinstance(v, str)))
SUBJECT_MAX = 300


async def record(
    s: AsyncSession, *, kind: str, subject: str, address: str = "", at: datetime, detail: dict[str, Any] | None = None
) -> None:
    """Append one entry; `detail` must never hold a password or token."""
    s.add(AuditEntry(kind=kind, subject=subject[:300], address=address[:64], at=at, detail=detail or {}))


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str


async def list_entries(
    s: AsyncSession,
    *,
    principal: Principal,
    size: int = 0,
    cursor: str = "",
    kind: str = "",
    subject: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    """The audit log newest first, one keyset page, for admins (it is the record of who did what to access): only
    one `kind`, only subjects containing `subject` (any case, LIKE wildcards literal), only entries at or after
    `since` and before `until`."""
    require_admin(principal, "read the audit log")
    limit = page_size(size)
    query = select(AuditEntry)
    if kind:
        if kind not in KINDS:
            raise InvalidArgument(f"unknown kind; use one of {', '.join(KINDS)}", field="kind")
        query = query.where(AuditEntry.kind == kind)
    if subject:
        if len(subject) > SUBJECT_MAX:
            raise InvalidArgument(f"at most {SUBJECT_MAX} characters", field="subject")
        escaped = subject.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditEntry.subject.ilike(f"%{escaped}%", escape="\\"))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    after = keyset(cursor)
    if after is not None:
        at, last_id = after
        query = query.where(or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < last_id)))
    rows = list((await s.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1))).all())
    if len(rows) <= limit:
        return AuditPage(rows, "")
    rows = rows[:limit]
    return AuditPage(rows, keyset_cursor(rows[-1].at, rows[-1].id))
