"""Idempotency keys of the create RPCs: the same key from the same caller returns the first result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, utcnow
from servicekit.errors import InvalidArgument

MAX_KEY = 200


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    # "<operation>:<caller id>", so two callers cannot collide on a key.
    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def check_key(key: str) -> str:
    if len(key) > MAX_KEY:
        raise InvalidArgument(f"at most {MAX_KEY} characters", field="idempotency_key")
    return key


async def earlier_result(s: AsyncSession, *, scope: str, key: str) -> str | None:
    """The resource id a previous call with this key created, if any."""
    if not key:
        return None
    return await s.scalar(
        select(IdempotencyKey.resource_id).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )


async def claim(s: AsyncSession, *, scope: str, key: str, resource_id: str) -> None:
    """Record the key before creating the resource: a concurrent call with the same key then waits for this
    transaction and fails on the primary key (the servicer retries it, and it finds this result)."""
    if key:
        s.add(IdempotencyKey(scope=scope, key=key, resource_id=resource_id))
        await s.flush()
