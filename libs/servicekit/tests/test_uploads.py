"""The upload pipeline: streamed checks, nothing left behind on refusal, thumbnails with EXIF rotation."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from servicekit.blobs import LocalBlobStore
from servicekit.errors import InvalidArgument
from servicekit.uploads import HEAD, store_bytes, store_upload


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_text_streamed_in_chunks_that_cut_a_character(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    body = ("é" * (HEAD)).encode()  # two bytes a character: the head boundary falls inside one
    parts = [body[i : i + 1001] for i in range(0, len(body), 1001)]
    stored = await store_upload(store, "notes.txt", _chunks(*parts), max_bytes=10 * HEAD)
    assert (stored.filename, stored.content_type, stored.size) == ("notes.txt", "text/plain", len(body))
    assert b"".join([c async for c in store.open(stored.key)]) == body


async def test_text_that_turns_binary_after_the_head_is_refused_and_not_kept(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(InvalidArgument, match="not plain text further on"):
        await store_upload(store, "a.txt", _chunks(b"a" * HEAD, b"b" * 10, b"\x00\x01"), max_bytes=10 * HEAD)
    assert _files(tmp_path) == []


async def test_too_large_is_refused_and_not_kept(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(InvalidArgument, match="larger than 100,000 bytes"):
        await store_upload(store, "a.txt", _chunks(*[b"x" * 30_000] * 5), max_bytes=100_000)
    assert _files(tmp_path) == []


async def test_empty_and_html_are_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(InvalidArgument, match="empty"):
        await store_upload(store, "a.txt", _chunks(), max_bytes=100)
    with pytest.raises(InvalidArgument, match="not accepted"):
        await store_bytes(store, "a.png", b"<html><script>alert(1)</script>", max_bytes=100)
    assert _files(tmp_path) == []


async def test_thumbnail_honours_exif_orientation(tmp_path: Path) -> None:
    # A landscape 400×200 JPEG whose EXIF says "rotate 90°": its preview must be portrait.
    img = Image.new("RGB", (400, 200), "red")
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    store = LocalBlobStore(tmp_path)
    stored = await store_bytes(store, "photo.jpg", buf.getvalue(), max_bytes=10**6)
    assert stored.content_type == "image/jpeg" and stored.thumbnail_key
    with Image.open(io.BytesIO(await store.get(stored.thumbnail_key))) as thumb:
        assert thumb.height > thumb.width


async def test_decompression_bomb_gets_no_thumbnail(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")  # 100 Mpx in a few kB
    store = LocalBlobStore(tmp_path)
    stored = await store_bytes(store, "bomb.png", buf.getvalue(), max_bytes=10**6)
    assert stored.content_type == "image/png" and stored.thumbnail_key == ""
