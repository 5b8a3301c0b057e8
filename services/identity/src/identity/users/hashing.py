"""argon2id password hashing in a bounded pool of worker threads, with admission control (docs/identity.md,
"Password hashing under load").

- Parameters: OWASP's second argon2id profile, m=19 MiB, t=2, p=1. A burst of sign-ins costs at most
  workers × 19 MiB, and each hash takes one core for about 40 ms here. Hashes made with other parameters (the
  RFC 9106 profile used before, 64 MiB, t=3, p=4) still verify, and are re-hashed at the next sign-in.
- Workers: one thread per core, at a lower CPU priority than the rest (nice +10). argon2-cffi releases the GIL
  while it hashes, so threads hash as fast as a process pool did here (within the noise) without its extra
  processes, memory and pickled passwords.
- Admission: at most `queue` hashes wait for a worker. One more is refused at once with `Busy` (UNAVAILABLE with a
  retry hint) instead of waiting until the caller's deadline expires; within the bound nothing is refused. A job
  whose caller gave up (deadline, cancellation) before a worker took it is dropped without hashing.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from identity import metrics
from servicekit.errors import Unavailable

# OWASP Password Storage Cheat Sheet, argon2id: m=19456 KiB, t=2, p=1 (equivalent to m=46 MiB, t=1).
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
DEFAULT_QUEUE = 200
MAX_RETRY_AFTER = 10
WORKER_NICE = 10
# The trailing metadata key of a Busy answer: whole seconds until the queue has room again.
RETRY_AFTER = "retry-after"
BUSY = "sign-in is busy right now; try again in a few seconds"

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID)
_T = TypeVar("_T")


class Busy(Unavailable):
    """More hashes are waiting than the queue's bound: come back in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(BUSY, field="busy")
        self.retry_after = retry_after


def _lower_priority() -> None:
    """Workers run at a lower CPU priority (nice +10, Linux threads have their own): during a storm the event loop
    that answers session checks, and the other services, come first, and hashing takes the rest of the cores."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: hash at normal priority
        pass


class HashingPool:
    """`workers` threads and at most `queue` jobs waiting for one of them."""

    def __init__(self, *, workers: int = 0, queue: int = DEFAULT_QUEUE) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.queue = queue
        self._executor = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._admitted = 0
        # A running mean of one job's seconds, for the retry hint; seeded with this machine's measured cost.
        self._mean_seconds = 0.05
        metrics.HASHING_WORKERS.set(self.workers)
        metrics.HASHING_QUEUE_BOUND.set(self.queue)

    @property
    def waiting(self) -> int:
        return max(0, self._admitted - self.workers)

    def retry_after(self) -> int:
        """Seconds until the queue, as it is now, has drained: at least 1, at most MAX_RETRY_AFTER (callers whose
        deadline passes leave the queue sooner than it drains)."""
        return min(MAX_RETRY_AFTER, max(1, math.ceil(self._admitted / self.workers * self._mean_seconds)))

    async def run(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._admitted >= self.workers + self.queue:
            metrics.HASHING_REFUSED.inc()
            raise Busy(self.retry_after())
        self._admitted += 1
        metrics.HASHING_WAITING.set(self.waiting)
        queued_at = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._timed, queued_at, fn, *args)
        finally:
            self._admitted -= 1
            metrics.HASHING_WAITING.set(self.waiting)

    def _timed(self, queued_at: float, fn: Callable[..., _T], *args: object) -> _T:
        started = time.perf_counter()
        metrics.HASHING_WAIT_SECONDS.observe(started - queued_at)
        try:
            return fn(*args)
        finally:
            took = time.perf_counter() - started
            self._mean_seconds += (took - self._mean_seconds) / 20
            metrics.HASHING_SECONDS.observe(took)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool = HashingPool()


def configure(*, workers: int = 0, queue: int = DEFAULT_QUEUE) -> HashingPool:
    """Replace the process's pool (identity.main, from IDENTITY_HASHING_WORKERS and IDENTITY_HASHING_QUEUE)."""
    global _pool
    old, _pool = _pool, HashingPool(workers=workers, queue=queue)
    old.shutdown()
    return _pool


def pool() -> HashingPool:
    return _pool


def _hash_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await _pool.run(_hash_sync, password)


@functools.cache
def _dummy_hash() -> str:
    # Verified against for unknown logins, so they cost the same time as a wrong password.
    return _hasher.hash("not a password anyone has")


def _verify_sync(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    try:
        _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if password_hash is None:
        return False, None
    # Parameters changed since the hash was made: store a fresh one while we know the password.
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None)


async def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash to store or None). A None hash (unknown login) takes as long and never matches."""
    return await _pool.run(_verify_sync, password_hash, password)
