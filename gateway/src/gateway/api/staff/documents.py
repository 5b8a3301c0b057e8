"""Staff JSON API for customer documents (SPEC A4): a customer's documents (internal ones too), upload as public
or internal, download, change visibility, delete. The assets service refuses all but reading to non-staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.documents import DocumentId, DocumentPage, IdempotencyKey
from gateway.api.staff import Id
from gateway.areas import assets as assets_rules
from gateway.areas import documents as rules
from gateway.clients.documents import Document, Visibility

router = APIRouter(prefix="/api/v1/staff", tags=["staff: documents"], responses=problems(400, 401, 403, 404, 503))


class VisibilityChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visibility: Visibility


@router.get("/customers/{customer_id}/documents")
async def list_customer_documents(
    customer_id: Id,
    session: StaffApiSession,
    backends: Clients,
    q: Annotated[str, Query(max_length=rules.QUERY_MAX, description="Words of the file name")] = "",
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = rules.PAGE_SIZE,
) -> DocumentPage:
    """Every document of the customer, public and internal, oldest first."""
    page = await backends.documents.list(
        session.principal_token, customer_id=customer_id, query=q, page_size=page_size, cursor=cursor
    )
    return DocumentPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/customers/{customer_id}/documents", status_code=status.HTTP_201_CREATED, responses=problems(413))
async def upload_customer_document(
    customer_id: Id,
    file: UploadFile,
    session: StaffApiSession,
    backends: Clients,
    response: Response,
    visibility: Annotated[Visibility, Form(description="public: shown in the customer's portal")] = "internal",
    idempotency_key: IdempotencyKey = None,
) -> Document:
    """Add a document (multipart field `file`, at most 25 MB) to the customer, public or internal (the default)."""
    await assets_rules.require_customer(backends, session.principal_token, customer_id)
    doc = await backends.documents.upload(
        session.principal_token,
        file,
        filename=file.filename or "",
        customer_id=customer_id,
        visibility=visibility,
        idempotency_key=idempotency_key or "",
    )
    response.headers["Location"] = f"/api/v1/staff/documents/{doc.id}/download"
    return doc


@router.get(
    "/documents/{document_id}/download",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file"}},
    response_class=StreamingResponse,
)
async def download_customer_document(
    document_id: DocumentId, session: StaffApiSession, backends: Clients
) -> StreamingResponse:
    """The file, always as a download, streamed."""
    try:
        doc, chunks = await backends.documents.download(session.principal_token, document_id)
    except LookupError:
        raise HTTPException(status_code=404, detail="document not found") from None
    return rules.download_response(doc, chunks)


@router.put("/documents/{document_id}/visibility")
async def set_document_visibility(
    document_id: DocumentId, body: VisibilityChange, session: StaffApiSession, backends: Clients
) -> Document:
    """Make the document public (shown in the customer's portal) or internal (staff only)."""
    return await backends.documents.set_visibility(session.principal_token, document_id, body.visibility)


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_customer_document(document_id: DocumentId, session: StaffApiSession, backends: Clients) -> Response:
    """Remove the document and its file."""
    await backends.documents.delete(session.principal_token, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
