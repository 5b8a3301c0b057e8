"""Small PNG previews of image attachments, drawn with Pillow (in a worker thread: it is CPU work)."""

from __future__ import annotations

import io
import logging

from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

SIZE = (240, 240)
# Refuse to decode anything bigger: a small file may claim a huge canvas (a decompression bomb).
MAX_PIXELS = 40_000_000


def thumbnail(data: bytes) -> bytes | None:
    """The PNG preview, or None when the image cannot (or should not) be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                return None
            img.seek(0)
            preview = img.convert("RGBA") if img.mode not in ("RGB", "RGBA") else img.copy()
        preview.thumbnail(SIZE)
        out = io.BytesIO()
        preview.save(out, format="PNG", optimize=True)
        return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        log.info("no thumbnail: %s", exc.__class__.__name__)
        return None
