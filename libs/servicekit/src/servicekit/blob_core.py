"""What every blob store shares: the BlobStore protocol, its errors, and its keys (servicekit.blobs re-exports all of
it; the stores themselves are servicekit.blobs.LocalBlobStore and servicekit.blobs_s3.S3BlobStore)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from servicekit.errors import Unavailable

_KEY = re.compile(r"^[0-9a-f]{32}$")
# Size of the chunks a store reads back; writers may hand chunks of any size.
CHUNK = 256 * 1024


class TooLarge(Exception):
    """The stream went past `max_bytes`; nothing was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"more than {max_bytes} bytes")
        self.max_bytes = max_bytes


class StoreUnavailable(Unavailable):
    """The store could not be reached or failed mid-write; nothing was kept. The message is safe to show, and a
    gRPC call that lets it through ends UNAVAILABLE with it (servicekit.errors)."""


@dataclass(frozen=True)
class Written:
    key: str
    size: int


class BlobStore(Protocol):
    async def put_stream(self, chunks: AsyncIterable[bytes], *, max_bytes: int, key: str | None = None) -> Written:
        """Store the stream under a new key (or `key`: only to copy blobs between stores, keeping their keys);
        TooLarge or StoreUnavailable leave nothing behind."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; FileNotFoundError (on first iteration) when there is none."""
        ...

    async def put(self, data: bytes) -> str:
        """Store small bytes (a thumbnail); returns the new key."""
        ...

    async def get(self, key: str) -> bytes:
        """A small blob's bytes whole; FileNotFoundError when there is none."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether a complete blob is stored under `key`."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing blob is not an error."""
        ...

    async def keys(self) -> list[str]:
        """Every complete blob's key, sorted (copying a store, tests)."""
        ...


def new_key() -> str:
    return uuid.uuid4().hex


def check_key(key: str) -> str:
    if not _KEY.match(key or ""):
        raise ValueError("not a blob key")
    return key


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data
