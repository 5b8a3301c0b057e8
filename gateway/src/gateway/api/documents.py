"""Customer documents in the portal's JSON API (SPEC A4): the customer's public documents oldest first with
name search, upload (Documents - Upload), and download. The assets service decides who sees what: another
customer's or an internal document is 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.areas import documents as rules
from gateway.clients.documents import Document

router = APIRouter(prefix="/api/v1", tags=["documents"], responses=problems(400, 401, 403, 413, 503))

DocumentId = Annotated[str, Path(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat the same key to get the first upload's document instead of a second one.",
    ),
]


class DocumentPage(BaseModel):
    items: list[Document]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


@router.get("/documents")
async def list_documents(
    session: CurrentSession,
    backends: Clients,
    q: Annotated[str, Query(max_length=rules.QUERY_MAX, description="Words of the file name")] = "",
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
) -> DocumentPage:
    """The customer's public documents, oldest first (needs Attachments - View Public)."""
    page = await backends.documents.list(session.principal_token, query=q, page_size=page_size, cursor=cursor)
    return DocumentPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/documents", status_code=status.HTTP_201_CREATED)
async def upload_document(
    file: UploadFile,
    session: CurrentSession,
    backends: Clients,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Document:
    """Add a document (multipart field `file`, at most 25 MB) to the customer; needs Documents - Upload. It is
    public to the customer's portal users. The type is decided by the content: images (PNG, JPEG, GIF, WebP), PDF
    and plain text are accepted; web pages, SVG and programs never are."""
    doc = await backends.documents.upload(
        session.principal_token, file, filename=file.filename or "", idempotency_key=idempotency_key or ""
    )
    response.headers["Location"] = f"/api/v1/documents/{doc.id}/download"
    return doc


@router.get(
    "/documents/{document_id}/download",
    responses={**problems(404), 200: {"content": {"application/octet-stream": {}}, "description": "The file"}},
    response_class=StreamingResponse,
)
async def download_document(session: CurrentSession, backends: Clients, document_id: DocumentId) -> StreamingResponse:
    """The file, always as a download (`Content-Disposition: attachment` with an RFC 6266 name, `nosniff`,
    a sandboxing CSP), streamed."""
    try:
        doc, chunks = await backends.documents.download(session.principal_token, document_id)
    except LookupError:
        raise HTTPException(status_code=404, detail="document not found") from None
    return rules.download_response(doc, chunks)
