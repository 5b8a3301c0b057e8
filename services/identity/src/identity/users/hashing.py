"""argon2id password hashing, in worker threads so a sign-in never blocks the event loop."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are argon2id with the RFC 9106 low-memory profile (64 MiB, 3 passes, 4 lanes).
_hasher = PasswordHasher()
# A few hashes at a time: a burst of sign-ins queues here instead of taking every core and 64 MiB each.
_pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="argon2")
_T = TypeVar("_T")


async def _in_pool(fn: Callable[..., _T], *args: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)


def _hash_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await _in_pool(_hash_sync, password)


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
    # Parameters raised since the hash was made: store a fresh one while we know the password.
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(password_hash) else None)


async def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash to store or None). A None hash (unknown login) takes as long and never matches."""
    return await _in_pool(_verify_sync, password_hash, password)
