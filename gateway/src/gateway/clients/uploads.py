"""Uploaded files handed to a service as a gRPC client stream, one chunk at a time: Starlette spools a
multipart file to disk past 1 MB, and this reads it back in pieces, so a 25 MB photo never sits whole in
the gateway's memory. The first message of each stream carries the metadata (servicekit.uploads)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.datastructures import UploadFile

# The services' chunk size (servicekit.blobs.CHUNK): well under gRPC's message cap.
CHUNK = 256 * 1024


async def file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def upload_messages(first: Any, upload: UploadFile, chunk_message: Callable[[bytes], Any]) -> AsyncIterator[Any]:
    """The request stream for a client-streaming upload RPC: `first` (the metadata), then one
    `chunk_message(bytes)` per chunk of the file."""
    yield first
    async for chunk in file_chunks(upload):
        yield chunk_message(chunk)
