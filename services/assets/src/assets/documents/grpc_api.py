"""portal.assets.v1.DocumentsService: proto ⇄ domain and the blob store's streams; the rules are in
documents/service.py, the checks on the file itself in servicekit.uploads."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc

from assets.documents import service
from assets.documents.models import Document
from portal.assets.v1 import documents_pb2, documents_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit.blobs import BlobStore
from servicekit.db import Database
from servicekit.errors import InvalidArgument, NotFound
from servicekit.pagination import page_size
from servicekit.principal import current_principal
from servicekit.protos import timestamp
from servicekit.uploads import store_upload

log = logging.getLogger(__name__)

SERVICE_NAME = documents_pb2.DESCRIPTOR.services_by_name["DocumentsService"].full_name
PUBLIC = documents_pb2.DOCUMENT_VISIBILITY_PUBLIC
INTERNAL = documents_pb2.DOCUMENT_VISIBILITY_INTERNAL


class DocumentsServicer(documents_pb2_grpc.DocumentsServiceServicer):
    def __init__(self, db: Database, *, blobs: BlobStore, max_bytes: int) -> None:
        self.db = db
        self.blobs = blobs
        self.max_bytes = max_bytes

    def add_to_server(self, server: grpc.aio.Server) -> None:
        documents_pb2_grpc.add_DocumentsServiceServicer_to_server(self, server)

    async def UploadDocument(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[documents_pb2.UploadDocumentRequest], context: grpc.aio.ServicerContext
    ) -> documents_pb2.UploadDocumentResponse:
        principal = current_principal()
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("part") != "metadata":
            raise InvalidArgument("the first message must carry the document's metadata", field="metadata")
        meta = first.metadata
        # Who may upload where is decided before any byte is stored.
        target = service.upload_target(
            principal,
            customer_id=meta.customer_id,
            visibility_public=_public(meta.visibility),
            idempotency_key=meta.idempotency_key,
        )
        async with self.db.unit_of_work() as s:
            done = await service.find_by_idempotency_key(s, principal=principal, target=target)
            if done is not None:
                return documents_pb2.UploadDocumentResponse(document=document_to_proto(done))

        async def chunks() -> AsyncIterator[bytes]:
            async for msg in messages:
                if msg.WhichOneof("part") != "chunk":
                    raise InvalidArgument("only the first message carries metadata", field="chunk")
                yield msg.chunk

        # The bytes go to the blob store outside any unit of work (it may be a network store); a refused or
        # too large file leaves nothing there (store_upload).
        stored = await store_upload(self.blobs, meta.filename, chunks(), max_bytes=self.max_bytes)
        try:
            async with self.db.unit_of_work() as s:
                doc, created = await service.add_document(s, principal=principal, target=target, stored=stored)
                out = document_to_proto(doc)
        except BaseException:
            await self._drop(stored.key, stored.thumbnail_key)
            raise
        if not created:
            await self._drop(stored.key, stored.thumbnail_key)
        return documents_pb2.UploadDocumentResponse(document=out)

    async def ListDocuments(  # noqa: N802
        self, request: documents_pb2.ListDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.ListDocumentsResponse:
        principal = current_principal()
        size = page_size(request.page.page_size)
        async with self.db.read() as conn:
            page = await service.list_documents(
                conn,
                principal=principal,
                customer_id=request.customer_id,
                query=request.query,
                page_size=size,
                cursor=request.page.cursor,
                newest_first=request.newest_first,
            )
        return documents_pb2.ListDocumentsResponse(
            documents=[document_to_proto(d) for d in page.documents],
            page=common_pb2.PageResponse(next_cursor=page.next_cursor),
        )

    async def DownloadDocument(  # noqa: N802
        self, request: documents_pb2.DownloadDocumentRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[documents_pb2.DownloadDocumentResponse]:
        principal = current_principal()
        async with self.db.read() as conn:
            doc = await service.get_document(conn, principal=principal, document_id=request.document_id)
        if request.thumbnail and not doc.thumbnail_key:
            raise NotFound("this document has no thumbnail")
        blob = self.blobs.open(doc.thumbnail_key if request.thumbnail else doc.blob_key)
        # The first chunk is read before anything is sent, so a missing file is NOT_FOUND, not a cut stream.
        try:
            head = await anext(blob, b"")
        except FileNotFoundError:
            raise NotFound("the document's file is missing") from None
        yield documents_pb2.DownloadDocumentResponse(document=document_to_proto(doc))
        if head:
            yield documents_pb2.DownloadDocumentResponse(chunk=head)
        async for chunk in blob:
            yield documents_pb2.DownloadDocumentResponse(chunk=chunk)

    async def SetDocumentVisibility(  # noqa: N802
        self, request: documents_pb2.SetDocumentVisibilityRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.SetDocumentVisibilityResponse:
        public = _public(request.visibility)
        if public is None:
            raise InvalidArgument("visibility must be public or internal", field="visibility")
        async with self.db.unit_of_work() as s:
            doc = await service.set_visibility(
                s, principal=current_principal(), document_id=request.document_id, public=public
            )
            out = document_to_proto(doc)
        return documents_pb2.SetDocumentVisibilityResponse(document=out)

    async def DeleteDocument(  # noqa: N802
        self, request: documents_pb2.DeleteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> documents_pb2.DeleteDocumentResponse:
        async with self.db.unit_of_work() as s:
            keys = await service.delete_document(s, principal=current_principal(), document_id=request.document_id)
        # After the commit: the row is gone first, so no one is ever offered a document whose file is missing.
        await self._drop(*keys)
        return documents_pb2.DeleteDocumentResponse()

    async def _drop(self, *keys: str) -> None:
        for key in keys:
            if not key:
                continue
            try:
                await self.blobs.delete(key)
            except Exception:
                # An orphan blob is harmless (no row names it); the caller's answer must not depend on it.
                log.warning("could not delete a document blob", exc_info=True)


def _public(visibility: int) -> bool | None:
    if visibility == PUBLIC:
        return True
    if visibility == INTERNAL:
        return False
    return None


def document_to_proto(d: Document) -> documents_pb2.Document:
    return documents_pb2.Document(
        id=d.id,
        customer_id=d.customer_id,
        filename=d.filename,
        content_type=d.content_type,
        size_bytes=d.size_bytes,
        visibility=PUBLIC if d.is_public else INTERNAL,
        uploaded_by=d.uploaded_by,
        uploaded_by_kind=d.uploaded_by_kind,
        created_at=timestamp(d.created_at),
        has_thumbnail=bool(d.thumbnail_key),
    )
