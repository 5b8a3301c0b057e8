"""File answers shared by pages and the API: PDFs and ticket attachments, always as downloads, never cached."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from gateway.clients.schemas import Attachment

# Downloads never render in the portal's origin: no scripts, no plugins, sandboxed even if opened inline.
DOWNLOAD_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def pdf_response(data: bytes, filename: str | None = None) -> Response:
    """A PDF; with a filename it is offered as a download under that (sanitised) name."""
    headers = {"Cache-Control": "private, no-store"}
    if filename is not None:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "document.pdf"
        headers = {"Content-Disposition": f'attachment; filename="{safe}"', **headers}
    return Response(data, media_type="application/pdf", headers=headers)


def attachment_response(att: Attachment, chunks: AsyncIterator[bytes]) -> StreamingResponse:
    """The file as a download streamed as it comes from the service (a 25 MB photo never sits whole in the
    gateway), that can never run as a page of the portal (the edge middleware adds `X-Content-Type-Options:
    nosniff` to every response; this CSP replaces the pages' one)."""
    media_type = "text/plain; charset=utf-8" if att.content_type == "text/plain" else att.content_type
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(att.filename),
            "Content-Security-Policy": DOWNLOAD_CSP,
            "Cache-Control": "private, no-store",
            # A download cut short (the store failing midway) is then seen as incomplete by the browser.
            "Content-Length": str(att.size_bytes),
        },
    )


def content_disposition(filename: str) -> str:
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
