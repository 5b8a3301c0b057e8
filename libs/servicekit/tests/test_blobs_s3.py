"""The S3 blob store against a real S3 server (SeaweedFS `weed`, the testkit's `s3_server`): streamed multipart
round trip, the size limit, a failing stream, a missing key, a dead server, and the upload pipeline on top."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from portal_local.s3 import WeedS3
from servicekit.blobs import CHUNK, StoreUnavailable, TooLarge, open_store
from servicekit.blobs_s3 import S3BlobStore
from servicekit.errors import InvalidArgument
from servicekit.uploads import store_upload

MB = 1024 * 1024


def fresh(s3: WeedS3) -> S3BlobStore:
    """A store under a prefix of its own, so each test sees only its own blobs."""
    return S3BlobStore.from_url(s3.store_url(f"t-{uuid.uuid4().hex[:8]}"), env=s3.env())


async def pattern(total: int, *, fail_at: int | None = None) -> AsyncIterator[bytes]:
    sent = 0
    i = 0
    while sent < total:
        if fail_at is not None and sent >= fail_at:
            raise RuntimeError("the client went away")
        chunk = bytes([i % 251]) * min(CHUNK, total - sent)
        sent += len(chunk)
        i += 1
        yield chunk


async def test_stream_round_trip_spans_several_parts(s3_server: WeedS3) -> None:
    store = fresh(s3_server)
    written = await store.put_stream(pattern(12 * MB + 17), max_bytes=25 * MB)
    assert written.size == 12 * MB + 17
    sent = hashlib.sha256()
    async for chunk in pattern(12 * MB + 17):
        sent.update(chunk)
    back = hashlib.sha256()
    async for chunk in store.open(written.key):
        assert len(chunk) <= CHUNK
        back.update(chunk)
    assert back.hexdigest() == sent.hexdigest()
    assert await store.keys() == [written.key]
    assert await store.exists(written.key)


async def test_too_large_and_failing_streams_leave_nothing(s3_server: WeedS3) -> None:
    store = fresh(s3_server)
    with pytest.raises(TooLarge):
        await store.put_stream(pattern(8 * MB), max_bytes=6 * MB)
    with pytest.raises(RuntimeError, match="went away"):
        await store.put_stream(pattern(12 * MB, fail_at=7 * MB), max_bytes=25 * MB)
    assert await store.keys() == []


async def test_small_blobs_missing_keys_and_delete(s3_server: WeedS3) -> None:
    store = fresh(s3_server)
    key = await store.put(b"thumbnail")
    assert await store.get(key) == b"thumbnail"
    await store.delete(key)
    await store.delete(key)
    assert not await store.exists(key)
    with pytest.raises(FileNotFoundError):
        await store.get(key)
    with pytest.raises(FileNotFoundError):
        async for _ in store.open(key):
            pass
    with pytest.raises(ValueError):
        await store.get("../../etc/passwd")


async def test_copy_keeps_the_key(s3_server: WeedS3) -> None:
    store = fresh(s3_server)
    key = uuid.uuid4().hex
    written = await store.put_stream(pattern(1000), max_bytes=1000, key=key)
    assert written.key == key and await store.get(key) == bytes(1000)


async def test_an_unreachable_server_is_a_clear_error_soon(s3_server: WeedS3) -> None:
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    store = S3BlobStore.from_url("s3://portal/x", env=env)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        await store.put_stream(pattern(MB), max_bytes=MB)
    assert time.monotonic() - started < 15
    assert "127.0.0.1" not in str(caught.value) and s3_server.secret_key not in str(caught.value)
    with pytest.raises(StoreUnavailable):
        await store.get(uuid.uuid4().hex)


async def test_pipeline_on_s3_refuses_and_keeps_nothing(s3_server: WeedS3) -> None:
    store = fresh(s3_server)
    # Plain text that turns binary past its head: refused while streaming, the multipart upload aborted.
    with pytest.raises(InvalidArgument):
        await store_upload(store, "notes.txt", _text_then_binary(), max_bytes=25 * MB)
    ok = await store_upload(store, "notes.txt", _text(), max_bytes=25 * MB)
    assert await store.keys() == [ok.key] and ok.content_type == "text/plain"


async def _text() -> AsyncIterator[bytes]:
    for _ in range(30):
        yield b"a line of text\n" * 10_000


async def _text_then_binary() -> AsyncIterator[bytes]:
    for _ in range(30):
        yield b"a line of text\n" * 10_000
    yield b"\x00\x01\x02" * 1000


def test_open_store_names_the_s3_store(s3_server: WeedS3, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    assert isinstance(open_store("s3://portal/tickets"), S3BlobStore)
    with pytest.raises(ValueError):
        S3BlobStore.from_url("s3:///nobucket")


async def test_a_server_killed_mid_upload_is_store_unavailable_and_leaves_nothing(tmp_path) -> None:  # noqa: ANN001
    """Its own server (the session's stays up): killed while parts are on their way."""
    import asyncio

    with WeedS3(tmp_path / "data") as own:
        store = S3BlobStore.from_url(own.store_url("k"), env=own.env())

        async def slow() -> AsyncIterator[bytes]:
            for _ in range(100):  # 25 MB over ~1 s
                await asyncio.sleep(0.01)
                yield b"\x01" * CHUNK

        async def kill_soon() -> None:
            await asyncio.sleep(0.4)
            await asyncio.to_thread(own.kill)

        killer = asyncio.create_task(kill_soon())
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.put_stream(slow(), max_bytes=30 * MB)
        await killer
        assert time.monotonic() - started < 20
        own.start()
        assert await store.keys() == []
