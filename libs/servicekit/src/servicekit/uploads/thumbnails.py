"""Small PNG previews of images, drawn with Pillow in a worker thread (it is CPU work).

The image is read from a file, not from memory, and JPEGs are decoded at a reduced scale (`draft`), so a
25 MB phone photo does not cost hundreds of megabytes of pixels. EXIF orientation is honoured: a photo taken
upright on its side shows upright.

Pillow is imported on the first image, not when a service starts: it is about 7 MB of memory that tickets and assets
would otherwise hold from their start whether anyone uploads an image or not (issue 16).
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from typing import IO

from servicekit.blobs import BlobStore

log = logging.getLogger(__name__)

SIZE = (240, 240)
# Refuse to decode anything bigger: a small file may claim a huge canvas (a decompression bomb).
MAX_PIXELS = 40_000_000
# A blob is copied to a temporary file for Pillow; it stays in memory only below this size.
_SPOOL = 1024 * 1024


def thumbnail_file(f: IO[bytes]) -> bytes | None:
    """The PNG preview of the image in `f`, or None when it cannot (or should not) be decoded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(f) as img:
            if img.width * img.height > MAX_PIXELS:
                return None
            img.seek(0)
            img.draft("RGB", (SIZE[0] * 2, SIZE[1] * 2))  # JPEG: decode at 1/2…1/8 scale; others: no-op
            img = ImageOps.exif_transpose(img)
            preview = img.convert("RGBA") if img.mode not in ("RGB", "RGBA") else img.copy()
        preview.thumbnail(SIZE)
        out = io.BytesIO()
        preview.save(out, format="PNG", optimize=True)
        return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.info("no thumbnail: %s", exc.__class__.__name__)
        return None


def thumbnail(data: bytes) -> bytes | None:
    """The PNG preview of image bytes already in memory."""
    return thumbnail_file(io.BytesIO(data))


async def thumbnail_of_blob(store: BlobStore, key: str) -> bytes | None:
    """The preview of a stored image, copied chunk by chunk to a temporary file first."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as f:
        async for chunk in store.open(key):
            await asyncio.to_thread(f.write, chunk)
        f.seek(0)
        return await asyncio.to_thread(thumbnail_file, f)
