"""What every area's RPC mixin (`<area>/rpcs.py`) shares: the servicer's parts, set by `grpc_api.IdentityServicer`,
and the unit of work that is run again after a uniqueness race."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers.holders import DataHolders
from identity.secrets import SecretBox
from identity.sessions.service import SessionPolicy
from identity.sessions.tokens import PrincipalTokens
from servicekit.db import Database

_T = TypeVar("_T")


class Rpcs:
    db: Database
    tokens: PrincipalTokens
    policy: SessionPolicy
    portal_url: str
    mfa_issuer: str
    # Asked before a customer is deleted.
    holders: DataHolders
    # Encrypts TOTP secrets and the queued emails that carry a link (identity.secrets).
    box: SecretBox | None
    # Set once the bootstrap staff user exists, so the first staff sign-in cannot race its creation.
    _ready: asyncio.Event | None

    async def _write(self, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """A unit of work that is run once more after a uniqueness race with a concurrent call, which the
        second run then sees (an idempotency key already used, an email already taken)."""
        try:
            async with self.db.unit_of_work() as s:
                return await work(s)
        except IntegrityError:
            async with self.db.unit_of_work() as s:
                return await work(s)
