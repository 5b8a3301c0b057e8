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


async def test_stream_round_trip_and_limit(tmp_path) -> None:  # noqa: ANN001
    from servicekit.blobs import TooLarge

    async def chunks(n: int):  # noqa: ANN202
        for _ in range(n):
            yield b"x" * 100_000

    store = LocalBlobStore(tmp_path)
    written = await store.put_stream(chunks(3), max_bytes=300_000)
    assert written.size == 300_000
    assert sum([len(c) async for c in store.open(written.key)]) == 300_000
    with pytest.raises(TooLarge):
        await store.put_stream(chunks(4), max_bytes=300_000)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [written.key]


def test_open_store_by_url(tmp_path) -> None:  # noqa: ANN001
    from servicekit.blobs import open_store

    assert isinstance(open_store(f"file://{tmp_path}"), LocalBlobStore)
    assert isinstance(open_store(str(tmp_path)), LocalBlobStore)
    with pytest.raises(ValueError, match="scheme"):
        open_store("ftp://x/y")


def test_open_store_takes_relative_file_urls(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from servicekit.blobs import open_store

    monkeypatch.chdir(tmp_path)
    store = open_store("file://var/blobs/tickets")
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path.joinpath("var/blobs/tickets").relative_to(
        tmp_path
    )


async def test_keys_exists_and_copy_with_a_key(tmp_path) -> None:  # noqa: ANN001
    from servicekit.blobs import new_key, one_chunk

    store = LocalBlobStore(tmp_path)
    key = new_key()
    assert not await store.exists(key)
    await store.put_stream(one_chunk(b"abc"), max_bytes=3, key=key)
    assert await store.exists(key) and await store.keys() == [key]
