"""The local blob store: round trip, generated keys only, missing blobs."""

from __future__ import annotations

import pytest

from servicekit.blobs import LocalBlobStore


async def test_round_trip_and_delete(tmp_path) -> None:  # noqa: ANN001
    store = LocalBlobStore(tmp_path)
    key = await store.put(b"hello")
    assert await store.get(key) == b"hello"
    assert len(key) == 32 and (tmp_path / key[:2] / key).is_file()
    await store.delete(key)
    await store.delete(key)
    with pytest.raises(FileNotFoundError):
        await store.get(key)


async def test_keys_cannot_escape_the_root(tmp_path) -> None:  # noqa: ANN001
    store = LocalBlobStore(tmp_path)
    for key in ("../../etc/passwd", "/etc/passwd", "A" * 32, ""):
        with pytest.raises(ValueError):
            await store.get(key)
