"""The first staff user, created at start from IDENTITY_BOOTSTRAP_STAFF_* when no staff user exists yet."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import IntegrityError

from identity.users.service import ensure_bootstrap_staff
from servicekit.db import Database

log = logging.getLogger(__name__)


class StaffBootstrap:
    """Runs once as a background job; `ready` is set when it is done (or gave up), and sign-in waits for it."""

    def __init__(self, db: Database, *, email: str, password: str, attempts: int = 10) -> None:
        self._db = db
        self._email = email
        self._password = password
        self._attempts = attempts
        self.ready = asyncio.Event()

    async def run(self) -> None:
        try:
            if self._email:
                await self._create()
        finally:
            self.ready.set()

    async def _create(self) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._db.unit_of_work() as s:
                    created = await ensure_bootstrap_staff(s, email=self._email, password=self._password)
            except IntegrityError:
                return  # another replica created it at the same moment
            except Exception as exc:
                log.warning("bootstrap staff user: %s (attempt %d)", exc.__class__.__name__, attempt)
                await asyncio.sleep(min(attempt, 5))
                continue
            if created is not None:
                log.info("created the bootstrap staff user %s", created.id)
            return
        log.error("could not create the bootstrap staff user; sign in as staff will fail until it exists")
