"""Receiving an uploaded file: check what it is by its bytes (content.py), store it as a stream in the blob
store, and draw a thumbnail for images (thumbnails.py). One pipeline for every service that takes files
(ticket attachments, customer documents), so the rules are written once.

Over gRPC an upload is a client stream whose first message carries the metadata (file name, owner ids) and
whose following messages carry `chunk` bytes of at most CHUNK each; a download is a server stream of chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from servicekit.blobs import CHUNK, BlobStore, TooLarge, one_chunk
from servicekit.errors import InvalidArgument
from servicekit.uploads import content, thumbnails

__all__ = ["CHUNK", "StoredFile", "store_upload"]

# Bytes looked at to decide the type (content.detect reads magic numbers and scans text for markup).
HEAD = 64 * 1024


@dataclass(frozen=True)
class StoredFile:
    key: str
    filename: str
    content_type: str
    size: int
    thumbnail_key: str  # '' when the file is not an image or no preview could be drawn


async def store_upload(store: BlobStore, filename: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StoredFile:
    """Check and store a streamed upload. InvalidArgument (a clear message) for an empty, too large or
    refused file; nothing stays stored when anything fails."""
    it = aiter(chunks)
    head = b""
    ended = True  # the whole file fits in the head
    async for chunk in it:
        head += chunk
        if len(head) >= HEAD:
            ended = False
            break
    if not head:
        raise InvalidArgument("the file is empty", field="data")
    name, kind = content.check(filename, head[:HEAD], max_bytes=max_bytes, final=ended)
    checker = content.StreamCheck(kind)

    async def everything() -> AsyncIterator[bytes]:
        checker.feed(head)
        yield head
        async for chunk in it:
            checker.feed(chunk)
            yield chunk
        checker.finish()

    try:
        written = await store.put_stream(everything(), max_bytes=max_bytes)
    except TooLarge:
        raise InvalidArgument(f"the file is larger than {max_bytes:,} bytes, the most accepted", field="data") from None
    thumb_key = ""
    try:
        if kind.content_type in content.IMAGES:
            preview = await thumbnails.thumbnail_of_blob(store, written.key)
            thumb_key = await store.put(preview) if preview else ""
    except BaseException:
        await store.delete(written.key)
        raise
    return StoredFile(written.key, name, kind.content_type, written.size, thumb_key)


async def store_bytes(store: BlobStore, filename: str, data: bytes, *, max_bytes: int) -> StoredFile:
    """store_upload for bytes already in memory (small files, tests)."""
    return await store_upload(store, filename, one_chunk(data), max_bytes=max_bytes)
