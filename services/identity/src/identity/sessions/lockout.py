"""Lock-out that slows an attacker without locking out the owner (SPEC P11), counted from the audit log.

- one address guessing one account: at most `per_pair` failures per window, then that address waits;
- one address guessing many accounts: at most `per_address` failures per window;
- many addresses guessing one account: once `distributed_addresses` different addresses failed in the window,
  only addresses this account signed in from before (within `known_for`) may try.

The owner, at another address, is never refused by what an attacker did from elsewhere, except in the third
case from an address it never used. Refused attempts are audited but not counted, so the window slides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit import models as audit_kinds
from identity.audit.models import AuditEntry

TOO_MANY = "too many sign-in attempts; wait a few minutes, then try again"


@dataclass(frozen=True)
class LockoutPolicy:
    window: timedelta = timedelta(minutes=15)
    per_pair: int = 5
    per_address: int = 30
    distributed_addresses: int = 10
    known_for: timedelta = timedelta(days=30)


async def refused(s: AsyncSession, *, subject: str, address: str, now: datetime, policy: LockoutPolicy) -> str:
    """Why this attempt must wait ('' when it may go ahead)."""
    since = now - policy.window
    failed = (AuditEntry.kind == audit_kinds.SIGN_IN_FAILED, AuditEntry.at >= since)
    pair = await s.scalar(
        select(func.count()).where(*failed, AuditEntry.subject == subject, AuditEntry.address == address)
    )
    if pair >= policy.per_pair:
        return "pair"
    per_address = await s.scalar(select(func.count()).where(*failed, AuditEntry.address == address))
    if per_address >= policy.per_address:
        return "address"
    addresses = await s.scalar(
        select(func.count(distinct(AuditEntry.address))).where(*failed, AuditEntry.subject == subject)
    )
    if addresses >= policy.distributed_addresses:
        known = await s.scalar(
            select(AuditEntry.id)
            .where(
                AuditEntry.kind == audit_kinds.SIGN_IN,
                AuditEntry.subject == subject,
                AuditEntry.address == address,
                AuditEntry.at >= now - policy.known_for,
            )
            .limit(1)
        )
        if known is None:
            return "distributed"
    return ""
