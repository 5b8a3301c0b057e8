"""Customer documents (SPEC A4), what pages and the JSON API share: page sizes, the search limit, who sees the
upload form, and the download and thumbnail answers (streamed, always a download, never rendered in the portal's
origin). The assets service enforces every rule again; these only decide what to offer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from gateway.clients.documents import Document
from gateway.edge.downloads import DOWNLOAD_CSP, content_disposition
from gateway.edge.sessions import Session
from servicekit import permissions as perm

PAGE_SIZE = 25
QUERY_MAX = 200
# The assets service's ASSETS_MAX_DOCUMENT_BYTES default; the gateway's body limit on the upload routes matches it.
MAX_DOCUMENT_BYTES = 25 * 1024 * 1024


def can_view(session: Session) -> bool:
    return session.principal.has(perm.ATTACHMENTS_VIEW_PUBLIC)


def can_upload(session: Session) -> bool:
    return session.principal.has(perm.DOCUMENTS_UPLOAD)


def download_response(doc: Document, chunks: AsyncIterator[bytes]) -> StreamingResponse:
    """The file as a download under a safe name (RFC 6266 filename*), with a sandboxing CSP, never cached; the
    edge middleware adds `X-Content-Type-Options: nosniff` to every response."""
    media_type = "text/plain; charset=utf-8" if doc.content_type == "text/plain" else doc.content_type
    return StreamingResponse(
        chunks,
        media_type=media_type or "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(doc.filename),
            "Content-Length": str(doc.size_bytes),
            "Content-Security-Policy": DOWNLOAD_CSP,
            "Cache-Control": "private, no-store",
        },
    )


def thumbnail_response(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    """A document's PNG preview, shown inline in the portal's pages."""
    return StreamingResponse(
        chunks,
        media_type="image/png",
        headers={
            "Content-Security-Policy": DOWNLOAD_CSP,
            "Cache-Control": "private, max-age=300",
        },
    )
