"""What an uploaded file is, decided by its bytes: an allow-list of types with their magic numbers, and a
name that can neither climb directories nor claim another type than its content."""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from servicekit.errors import InvalidArgument


@dataclass(frozen=True)
class Kind:
    content_type: str
    extensions: tuple[str, ...]


PNG = Kind("image/png", (".png",))
JPEG = Kind("image/jpeg", (".jpg", ".jpeg"))
GIF = Kind("image/gif", (".gif",))
WEBP = Kind("image/webp", (".webp",))
PDF = Kind("application/pdf", (".pdf",))
TEXT = Kind("text/plain", (".txt", ".log", ".csv"))
ALLOWED = (PNG, JPEG, GIF, WEBP, PDF, TEXT)
ALLOWED_LABEL = "PNG, JPEG, GIF, WebP images, PDF documents and plain text (.txt, .log, .csv)"
IMAGES = frozenset({PNG.content_type, JPEG.content_type, GIF.content_type, WEBP.content_type})

# Text that a browser could take for markup if it ever sniffed it: refused even as "plain text".
_MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|link|style)\b", re.I)
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|;]')
NAME_MAX = 120


def detect(data: bytes, *, final: bool = True) -> Kind | None:
    """The allowed kind these bytes are, or None. `final=False` when `data` is only the head of a longer
    file: a UTF-8 character cut at its end is then not held against it."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    if b"\x00" in data:
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        return None
    if _MARKUP.search(data[:65536]):
        return None
    return TEXT


def safe_name(name: str) -> str:
    """The last path segment only, without control or shell-special characters, not hidden, not too long."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip().lstrip(".").strip()
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: NAME_MAX - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:NAME_MAX]
    return name or "file"


def check(filename: str, data: bytes, *, max_bytes: int, final: bool = True) -> tuple[str, Kind]:
    """(the name to store, the detected kind), or InvalidArgument saying clearly what is wrong. `data` may be
    only the file's head (`final=False`); StreamCheck then checks the rest as it streams past."""
    if not data:
        raise InvalidArgument("the file is empty", field="data")
    if len(data) > max_bytes:
        raise InvalidArgument(
            f"the file is {len(data):,} bytes; files may be at most {max_bytes:,} bytes", field="data"
        )
    kind = detect(data, final=final)
    if kind is None:
        raise InvalidArgument(
            f"this kind of file is not accepted (web pages, scripts and programs never are); allowed: {ALLOWED_LABEL}",
            field="data",
        )
    name = safe_name(filename)
    stem, dot, ext = name.rpartition(".")
    ext = f".{ext.lower()}" if dot and stem else ""
    if not ext:
        name = f"{name}{kind.extensions[0]}"
    elif ext not in kind.extensions:
        claimed = next((k for k in ALLOWED if ext in k.extensions), None)
        if claimed is not None or ext in (".html", ".htm", ".svg", ".xhtml", ".xml", ".js", ".exe"):
            raise InvalidArgument(
                f"the file's content does not match its name: it is named {ext} but its content is {kind.content_type}",
                field="data",
            )
        # An unknown extension on an allowed content: stored under the type the content really is.
        name = f"{name}{kind.extensions[0]}"
    return name, kind


class StreamCheck:
    """The rest of a streamed file checked as it passes: plain text must stay UTF-8 without NUL bytes all the
    way through, not only in its head. Binary kinds were decided by their magic numbers."""

    def __init__(self, kind: Kind) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")() if kind is TEXT else None

    def _refuse(self) -> None:
        raise InvalidArgument(
            "the file starts as plain text but is not plain text further on; allowed: " + ALLOWED_LABEL, field="data"
        )

    def feed(self, chunk: bytes) -> None:
        if self._decoder is None:
            return
        if b"\x00" in chunk:
            self._refuse()
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._refuse()

    def finish(self) -> None:
        if self._decoder is None:
            return
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self._refuse()
