"""The Documents section of the staff console's customer page (SPEC A4): the customer's documents, public and
internal, oldest first with keyset pages (`?documents=<cursor>`); upload choosing public or internal; switch a
document's visibility; delete after a confirmation page; download and preview. The assets service refuses every
change to a principal that is not staff; StaffPage answers a portal session with 403."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import documents as rules
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import NOT_FOUND
from gateway.edge.sessions import Session
from gateway.web.deps import STAFF_COOKIE, StaffPage, backends, pages
from gateway.web.documents import file_response
from gateway.web.forms import check_csrf, field, read_form
from gateway.web.views.documents import staff_document_row

router = APIRouter(prefix="/staff", include_in_schema=False)

CURSOR_PARAM = "documents"
_DONE = {"document_uploaded", "document_public", "document_internal", "document_deleted"}
# Why an upload was refused, as a code in the redirect (never text of the URL's choosing on the page).
_ERRORS = {"required", "refused"}


async def section(request: Request, session: Session, customer_id: str) -> dict[str, Any]:
    """What the customer page's Documents block shows (`staff/documents/_section.html`); an unavailable
    assets service hides the list, not the page."""
    t = pages(request).translator(request)
    cursor = request.query_params.get(CURSOR_PARAM, "")[:512]
    done = request.query_params.get("done", "")
    error = request.query_params.get("document_error", "")
    out: dict[str, Any] = {
        "customer_id": customer_id,
        "rows": [],
        "unavailable": False,
        "next_href": "",
        "first_href": f"/staff/customers/{quote(customer_id, safe='')}#documents" if cursor else "",
        "idempotency_key": uuid.uuid4().hex,
        "done": t(f"staff.documents.done.{done}") if done in _DONE else "",
        "error": t(f"staff.documents.error.{error}") if error in _ERRORS else "",
    }
    try:
        found = await backends(request).documents.list(
            session.principal_token, customer_id=customer_id, page_size=rules.PAGE_SIZE, cursor=cursor
        )
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        out["unavailable"] = True
        return out
    out["rows"] = [staff_document_row(t, d) for d in found.items]
    if found.next_cursor:
        query = urlencode({CURSOR_PARAM: found.next_cursor})
        out["next_href"] = f"/staff/customers/{quote(customer_id, safe='')}?{query}#documents"
    return out


def _back(customer_id: str, done: str = "", error: str = "") -> RedirectResponse:
    query = urlencode({k: v for k, v in (("done", done), ("document_error", error)) if v})
    return RedirectResponse(f"/staff/customers/{quote(customer_id, safe='')}?{query}#documents", status_code=303)


@router.post("/customers/{customer_id}/documents")
async def upload(request: Request, customer_id: str, session: StaffPage) -> Response:
    """Upload a document to the customer, public or internal; a refused file comes back as the section's message."""
    form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    file = form.get("file")
    filename = getattr(file, "filename", "") or ""
    if not filename or isinstance(file, str):
        return _back(customer_id, error="required")
    visibility = "public" if field(form, "visibility") == "public" else "internal"
    try:
        await backends(request).documents.upload(
            session.principal_token,
            file,
            filename=filename,
            customer_id=customer_id[:64],
            visibility=visibility,
            idempotency_key=field(form, "idempotency_key")[:200],
        )
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        return _back(customer_id, error="refused")
    return _back(customer_id, done="document_uploaded")


@router.post("/documents/{document_id}/visibility")
async def set_visibility(request: Request, document_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    visibility = "public" if field(form, "visibility") == "public" else "internal"
    try:
        doc = await backends(request).documents.set_visibility(session.principal_token, document_id[:64], visibility)
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages(request).error(request, NOT_FOUND, session=session)
        raise
    return _back(doc.customer_id, done=f"document_{visibility}")


@router.get("/documents/{document_id}/delete")
async def delete_confirm(request: Request, document_id: str, session: StaffPage) -> Response:
    """The confirmation before a document and its file are removed."""
    try:
        doc, chunks = await backends(request).documents.download(session.principal_token, document_id[:64])
    except (grpc.aio.AioRpcError, LookupError) as err:
        if isinstance(err, LookupError) or err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages(request).error(request, NOT_FOUND, session=session)
        raise
    await chunks.aclose()  # only the description was wanted: the stream is cancelled
    return pages(request).render(request, "staff/documents/delete.html", {"d": doc}, session=session)


@router.post("/documents/{document_id}/delete")
async def delete(request: Request, document_id: str, session: StaffPage) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD), STAFF_COOKIE)
    try:
        await backends(request).documents.delete(session.principal_token, document_id[:64])
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages(request).error(request, NOT_FOUND, session=session)
        raise
    return _back(field(form, "customer_id")[:64], done="document_deleted")


@router.get("/documents/{document_id}/download")
async def download(request: Request, document_id: str, session: StaffPage) -> Response:
    return await file_response(request, session, document_id, thumbnail=False)


@router.get("/documents/{document_id}/thumbnail")
async def thumbnail(request: Request, document_id: str, session: StaffPage) -> Response:
    return await file_response(request, session, document_id, thumbnail=True)
