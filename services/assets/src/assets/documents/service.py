"""Document rules: who may add, see, change and remove which customer's files. Functions take the caller's
session or read connection and never commit, and never touch the blob store: the servicer streams the bytes
outside any unit of work and passes the stored keys in.

Who sees what:
- staff (admin or technician) see every document and choose, per document, public or internal;
- a portal user sees its own customer's public documents when its group has Attachments - View Public;
  an internal document, or another customer's, is NOT_FOUND, never PERMISSION_DENIED;
- a portal user whose group has Documents - Upload adds documents to its own customer; they are public, so
  the uploader and its colleagues find them in the portal (staff may make one internal afterwards);
- a secure link principal sees no documents (its scope is a ticket or a site).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from assets.documents.models import Document
from assets.events import publish
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import ATTACHMENTS_VIEW_PUBLIC, DOCUMENTS_UPLOAD
from servicekit.principal import KIND_PORTAL_USER, Principal
from servicekit.uploads import StoredFile

ID_MAX = 36
IDEMPOTENCY_KEY_MAX = 200
QUERY_MAX = 200
NOT_FOUND = "document not found"


@dataclass(frozen=True)
class Uploader:
    """Where an upload goes, decided from the metadata before any byte is stored."""

    customer_id: str
    is_public: bool
    idempotency_key: str | None


@dataclass(frozen=True)
class DocumentPage:
    documents: list[Document]
    next_cursor: str


def upload_target(
    principal: Principal, *, customer_id: str, visibility_public: bool | None, idempotency_key: str
) -> Uploader:
    """The customer and visibility of a new document, or why the principal may not upload.

    `visibility_public` is None when the caller left it unset: internal for staff (the safe side), and a
    portal user's documents are always public to its customer."""
    key = _idempotency_key(idempotency_key)
    if principal.is_staff:
        return Uploader(_id(customer_id, field="customer_id", required=True), bool(visibility_public), key)
    if principal.kind != KIND_PORTAL_USER or not principal.customer_id:
        raise PermissionDenied("only portal users and staff add documents")
    if not principal.has(DOCUMENTS_UPLOAD):
        raise PermissionDenied("your portal group does not allow uploading documents")
    if visibility_public is False:
        raise InvalidArgument("only staff make internal documents", field="visibility")
    return Uploader(principal.customer_id, True, key)


async def find_by_idempotency_key(session: AsyncSession, *, principal: Principal, target: Uploader) -> Document | None:
    if target.idempotency_key is None:
        return None
    return await session.scalar(
        sa.select(Document).where(
            Document.customer_id == target.customer_id,
            Document.uploaded_by == principal.subject_id,
            Document.idempotency_key == target.idempotency_key,
        )
    )


async def add_document(
    session: AsyncSession, *, principal: Principal, target: Uploader, stored: StoredFile
) -> tuple[Document, bool]:
    """Record a stored file on the customer and put "document added" in the outbox. Returns (document, created):
    when a concurrent upload with the same idempotency key won, its document and False (the caller then drops
    the bytes it stored)."""
    doc = Document(
        id=str(uuid.uuid4()),
        customer_id=target.customer_id,
        filename=stored.filename,
        content_type=stored.content_type,
        size_bytes=stored.size,
        blob_key=stored.key,
        thumbnail_key=stored.thumbnail_key,
        is_public=target.is_public,
        uploaded_by=principal.subject_id,
        uploaded_by_kind=principal.kind,
        idempotency_key=target.idempotency_key,
    )
    try:
        async with session.begin_nested():
            session.add(doc)
            await session.flush()
    except IntegrityError:
        first = await find_by_idempotency_key(session, principal=principal, target=target)
        if first is None:
            raise
        return first, False
    await publish.document_added(session, doc)
    return doc, True


async def list_documents(
    conn: AsyncConnection | AsyncSession,
    *,
    principal: Principal,
    customer_id: str = "",
    query: str = "",
    page_size: int,
    cursor: str = "",
    newest_first: bool = False,
) -> DocumentPage:
    """The customer's documents the principal may see, oldest first (created_at, id) or newest first, one keyset
    page."""
    q = sa.select(*Document.__table__.c)
    if principal.is_staff:
        q = q.where(Document.customer_id == _id(customer_id, field="customer_id", required=True))
    else:
        q = q.where(Document.customer_id == portal_customer(principal), Document.is_public.is_(True))
    words = " ".join(query.split())
    if len(words) > QUERY_MAX:
        raise InvalidArgument(f"the search must be at most {QUERY_MAX} characters", field="query")
    for word in words.lower().split():
        q = q.where(sa.func.lower(Document.filename).contains(word, autoescape=True))
    after = keyset(cursor)
    if after is not None:
        at, last_id = after
        if newest_first:
            q = q.where(sa.or_(Document.created_at < at, sa.and_(Document.created_at == at, Document.id < last_id)))
        else:
            q = q.where(sa.or_(Document.created_at > at, sa.and_(Document.created_at == at, Document.id > last_id)))
    order = (Document.created_at.desc(), Document.id.desc()) if newest_first else (Document.created_at, Document.id)
    q = q.order_by(*order).limit(page_size + 1)
    rows = [Document(**r._mapping) for r in (await conn.execute(q)).all()]
    page, more = rows[:page_size], len(rows) > page_size
    return DocumentPage(page, keyset_cursor(page[-1].created_at, page[-1].id) if more else "")


async def get_document(conn: AsyncConnection | AsyncSession, *, principal: Principal, document_id: str) -> Document:
    """One document the principal may see; NOT_FOUND for an unknown, another customer's or (to a portal user)
    an internal document alike."""
    canonical = _uuid(document_id)
    q = sa.select(*Document.__table__.c).where(Document.id == canonical)
    if not principal.is_staff:
        q = q.where(Document.customer_id == portal_customer(principal), Document.is_public.is_(True))
    row = (await conn.execute(q)).first()
    if row is None:
        raise NotFound(NOT_FOUND)
    return Document(**row._mapping)


async def set_visibility(session: AsyncSession, *, principal: Principal, document_id: str, public: bool) -> Document:
    """Staff make a document public or internal."""
    _require_staff(principal)
    doc = await session.get(Document, _uuid(document_id))
    if doc is None:
        raise NotFound(NOT_FOUND)
    doc.is_public = public
    await session.flush()
    return doc


async def delete_document(session: AsyncSession, *, principal: Principal, document_id: str) -> tuple[str, str]:
    """Staff remove a document's row; returns its (blob key, thumbnail key) for the caller to delete after
    the commit, so a failed commit never leaves a row without its file."""
    _require_staff(principal)
    doc = await session.get(Document, _uuid(document_id))
    if doc is None:
        raise NotFound(NOT_FOUND)
    keys = (doc.blob_key, doc.thumbnail_key)
    await session.delete(doc)
    await session.flush()
    return keys


def _require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff manage documents")


def portal_customer(principal: Principal) -> str:
    """The customer whose public documents a portal user sees, once its group allows it."""
    if principal.kind != KIND_PORTAL_USER or not principal.customer_id:
        raise PermissionDenied("documents are for portal users and staff")
    if not principal.has(ATTACHMENTS_VIEW_PUBLIC):
        raise PermissionDenied("your portal group does not allow viewing attachments")
    return principal.customer_id


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(NOT_FOUND) from None


def _id(value: str, *, field: str, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{field} is required", field=field)
    if len(value) > ID_MAX or "\x00" in value:
        raise InvalidArgument(f"{field} is not a valid id", field=field)
    return value


def _idempotency_key(value: str) -> str | None:
    value = value.strip()
    if len(value) > IDEMPOTENCY_KEY_MAX:
        raise InvalidArgument(
            f"the idempotency key must be at most {IDEMPOTENCY_KEY_MAX} characters", field="idempotency_key"
        )
    if "\x00" in value:
        raise InvalidArgument("the idempotency key must not contain NUL characters", field="idempotency_key")
    return value or None
