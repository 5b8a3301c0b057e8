"""Document rows, for the portal's Attachments section and Documents page and the staff customer page."""

from __future__ import annotations

from typing import NamedTuple

from gateway.clients.documents import Document
from gateway.web.i18n import Translator


class DocumentRow(NamedTuple):
    id: str
    name: str
    created: str
    size: str
    public: bool
    href: str
    thumbnail: str  # '' when the document has no preview


def size_label(t: Translator, n: int) -> str:
    if n < 1024:
        return t("documents.size.bytes", n=n)
    if n < 1024 * 1024:
        return t("documents.size.kb", n=round(n / 1024))
    return t("documents.size.mb", n=f"{n / (1024 * 1024):.1f}")


def document_row(t: Translator, d: Document) -> DocumentRow:
    return DocumentRow(
        d.id,
        d.filename,
        t.date(d.created_at),
        size_label(t, d.size_bytes),
        d.visibility == "public",
        f"/documents/{d.id}/download",
        f"/documents/{d.id}/thumbnail" if d.has_thumbnail else "",
    )


def staff_document_row(t: Translator, d: Document) -> DocumentRow:
    """The same row with the staff console's own download and preview paths (its cookie is scoped to /staff)."""
    return document_row(t, d)._replace(
        href=f"/staff/documents/{d.id}/download",
        thumbnail=f"/staff/documents/{d.id}/thumbnail" if d.has_thumbnail else "",
    )
