"""DocumentsService (on the assets channel): customer documents (SPEC A4). Uploads go as a client stream of
256 KiB chunks read from the spooled upload (clients/uploads.py); downloads come back as a stream that the
routes hand to a StreamingResponse, so no file is ever whole in the gateway's memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

import grpc
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import Page, opt_datetime
from gateway.clients.uploads import upload_messages
from gateway.edge.metrics import BACKEND_CALLS
from portal.assets.v1 import documents_pb2, documents_pb2_grpc
from portal.common.v1 import common_pb2
from servicekit.grpc_client import call_options

# A 25 MB file over a slow link takes a while; the ordinary backend deadline is for quick calls.
TRANSFER_SECONDS = 300.0
Visibility = Literal["public", "internal"]
_TO_PROTO = {
    "public": documents_pb2.DOCUMENT_VISIBILITY_PUBLIC,
    "internal": documents_pb2.DOCUMENT_VISIBILITY_INTERNAL,
}
_FROM_PROTO = {v: k for k, v in _TO_PROTO.items()}


class Document(BaseModel):
    id: str
    customer_id: str
    filename: str
    content_type: str
    size_bytes: int
    visibility: Visibility = Field(description="public: shown in the customer's portal; internal: staff only")
    uploaded_by: str
    uploaded_by_kind: str
    created_at: datetime | None
    has_thumbnail: bool = False

    @classmethod
    def from_proto(cls, d: documents_pb2.Document) -> Document:
        return cls.model_construct(
            id=d.id,
            customer_id=d.customer_id,
            filename=d.filename,
            content_type=d.content_type,
            size_bytes=d.size_bytes,
            visibility=_FROM_PROTO.get(d.visibility, "internal"),
            uploaded_by=d.uploaded_by,
            uploaded_by_kind=d.uploaded_by_kind,
            created_at=opt_datetime(d, "created_at"),
            has_thumbnail=d.has_thumbnail,
        )


class DocumentsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = documents_pb2_grpc.DocumentsServiceStub(channel)
        self._call = Caller("assets", timeout)

    async def upload(
        self,
        token: str,
        upload: UploadFile,
        *,
        filename: str,
        customer_id: str = "",
        visibility: Visibility | None = None,
        idempotency_key: str = "",
    ) -> Document:
        meta = documents_pb2.UploadDocumentMetadata(
            customer_id=customer_id,
            filename=filename,
            visibility=_TO_PROTO[visibility] if visibility else documents_pb2.DOCUMENT_VISIBILITY_UNSPECIFIED,
            idempotency_key=idempotency_key,
        )
        messages = upload_messages(
            documents_pb2.UploadDocumentRequest(metadata=meta),
            upload,
            lambda chunk: documents_pb2.UploadDocumentRequest(chunk=chunk),
        )
        resp = await self._call(self._stub.UploadDocument, messages, token, deadline=TRANSFER_SECONDS)
        return Document.from_proto(resp.document)

    @cached("assets")
    async def list(
        self,
        token: str,
        *,
        customer_id: str = "",
        query: str = "",
        page_size: int = 0,
        cursor: str = "",
        newest_first: bool = False,
    ) -> Page[Document]:
        req = documents_pb2.ListDocumentsRequest(
            customer_id=customer_id,
            query=query,
            page=common_pb2.PageRequest(page_size=page_size, cursor=cursor),
            newest_first=newest_first,
        )
        resp = await self._call(self._stub.ListDocuments, req, token)
        return Page(items=[Document.from_proto(d) for d in resp.documents], next_cursor=resp.page.next_cursor or None)

    async def download(
        self, token: str, document_id: str, *, thumbnail: bool = False
    ) -> tuple[Document, AsyncIterator[bytes]]:
        """The document and its bytes as a stream. Errors before the first byte (not found, no thumbnail) are
        raised here, so the route can still answer 404 instead of starting a response."""
        req = documents_pb2.DownloadDocumentRequest(document_id=document_id, thumbnail=thumbnail)
        options = call_options(token, timeout=TRANSFER_SECONDS)
        call = self._stub.DownloadDocument(req, **options)
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as err:
            BACKEND_CALLS.labels("assets", err.code().name).inc()
            raise
        if first is grpc.aio.EOF or first.WhichOneof("part") != "document":
            call.cancel()
            raise LookupError("the download did not start with the document")

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while (msg := await call.read()) is not grpc.aio.EOF:
                    yield msg.chunk
                BACKEND_CALLS.labels("assets", "OK").inc()
            finally:
                call.cancel()  # a client that went away stops the service's stream too

        return Document.from_proto(first.document), chunks()

    async def set_visibility(self, token: str, document_id: str, visibility: Visibility) -> Document:
        req = documents_pb2.SetDocumentVisibilityRequest(document_id=document_id, visibility=_TO_PROTO[visibility])
        return Document.from_proto((await self._call(self._stub.SetDocumentVisibility, req, token)).document)

    async def delete(self, token: str, document_id: str) -> None:
        await self._call(self._stub.DeleteDocument, documents_pb2.DeleteDocumentRequest(document_id=document_id), token)
