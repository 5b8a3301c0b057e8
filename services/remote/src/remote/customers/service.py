"""Each customer's remote-access setting (SPEC C3) as identity last announced it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from remote.agents.models import EnrolmentToken
from remote.customers.models import CustomerSettings


async def apply(
    s: AsyncSession, *, customer_id: str, remote_access_enabled: bool | None, occurred_at: datetime
) -> bool:
    """Apply identity's setting unless a later one was applied already; None (a new customer) keeps what is known."""
    row = await s.get(CustomerSettings, customer_id, with_for_update=True)
    if row is None:
        s.add(
            CustomerSettings(
                customer_id=customer_id, remote_access_enabled=bool(remote_access_enabled), updated_at=occurred_at
            )
        )
        return True
    if row.updated_at > occurred_at:
        return False
    if remote_access_enabled is not None:
        row.remote_access_enabled = remote_access_enabled
    row.updated_at = occurred_at
    return True


async def remote_access_enabled(s: AsyncSession, customer_id: str) -> bool:
    row = await s.get(CustomerSettings, customer_id)
    return bool(row and row.remote_access_enabled)


async def forget(s: AsyncSession, customer_id: str) -> None:
    """Identity deleted the customer: its setting and any enrolment tokens left go."""
    row = await s.get(CustomerSettings, customer_id)
    if row is not None:
        await s.delete(row)
    await s.execute(delete(EnrolmentToken).where(EnrolmentToken.customer_id == customer_id))
