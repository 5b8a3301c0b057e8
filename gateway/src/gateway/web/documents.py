"""The portal's documents (SPEC A4): View All with search, previews and keyset pages, the upload form for groups
with Documents - Upload, and each file's download and preview. The home's Attachments section is in home.py; the
assets service decides what each user may see (another customer's or an internal document is 404)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.areas import documents as rules
from gateway.edge.csrf import CSRF_FIELD
from gateway.edge.errors import FORBIDDEN, NOT_FOUND, split_field
from gateway.edge.sessions import Session
from gateway.web.deps import PortalPage, backends, pages
from gateway.web.forms import check_csrf, field
from gateway.web.views.documents import document_row

router = APIRouter(include_in_schema=False)


async def _read_upload_form(request: Request):  # noqa: ANN202 - starlette FormData
    # Starlette spools the file to disk past 1 MB; the text fields are small.
    return await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)


@router.get("/documents", name="documents")
async def documents_page(request: Request, session: PortalPage) -> Response:
    return await _page(request, session)


async def _page(request: Request, session: Session, *, error: str = "", status_code: int = 200) -> Response:
    page = pages(request)
    if not (rules.can_view(session) or rules.can_upload(session)):
        return page.error(request, FORBIDDEN, session=session)
    t = page.translator(request)
    q = " ".join(request.query_params.get("q", "").split())[: rules.QUERY_MAX]
    cursor = request.query_params.get("cursor", "")[:512]
    rows, next_href = None, ""
    if rules.can_view(session):
        try:
            found = await backends(request).documents.list(
                session.principal_token, query=q, page_size=rules.PAGE_SIZE, cursor=cursor
            )
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.INVALID_ARGUMENT:  # a stale or edited cursor: start again
                raise
            return RedirectResponse("/documents" + (f"?{urlencode({'q': q})}" if q else ""), status_code=303)
        rows = [document_row(t, d) for d in found.items]
        if found.next_cursor:
            next_href = "/documents?" + urlencode({**({"q": q} if q else {}), "cursor": found.next_cursor})
    done = request.query_params.get("done", "")
    return page.render(
        request,
        "documents/list.html",
        {
            "rows": rows,
            "q": q,
            "next_href": next_href,
            "first_href": ("/documents" + (f"?{urlencode({'q': q})}" if q else "")) if cursor else "",
            "can_upload": rules.can_upload(session),
            "idempotency_key": uuid.uuid4().hex,
            "done": t("documents.uploaded") if done == "uploaded" else "",
            "error": error,
        },
        session=session,
        status_code=status_code,
    )


@router.post("/documents")
async def upload(request: Request, session: PortalPage) -> Response:
    """The upload form: the file streams to the assets service, which checks it; a refusal is shown by the field."""
    form = await _read_upload_form(request)
    check_csrf(request, form.get(CSRF_FIELD))
    t = pages(request).translator(request)
    if not rules.can_upload(session):
        return pages(request).error(request, FORBIDDEN, session=session)
    file = form.get("file")
    filename = getattr(file, "filename", "") or ""
    if not filename or isinstance(file, str):
        return await _page(request, session, error=t("documents.file.required"), status_code=400)
    try:
        await backends(request).documents.upload(
            session.principal_token, file, filename=filename, idempotency_key=field(form, "idempotency_key")[:200]
        )
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        reason = split_field(err.details() or "")[1]
        message = t("documents.file.refused", name=filename[:120], reason=reason)
        return await _page(request, session, error=message, status_code=400)
    return RedirectResponse("/documents?done=uploaded", status_code=303)


@router.get("/documents/{document_id}/download")
async def download(request: Request, document_id: str, session: PortalPage) -> Response:
    """The file as a download (Content-Disposition: attachment), streamed from the assets service."""
    return await file_response(request, session, document_id, thumbnail=False)


@router.get("/documents/{document_id}/thumbnail")
async def thumbnail(request: Request, document_id: str, session: PortalPage) -> Response:
    """An image document's PNG preview, shown inline in the pages."""
    return await file_response(request, session, document_id, thumbnail=True)


async def file_response(request: Request, session: Session, document_id: str, *, thumbnail: bool) -> Response:
    """A document's file or preview as the assets service streams it (the staff pages serve theirs with this too);
    an unknown, hidden or other customer's document is the 404 page."""
    try:
        doc, chunks = await backends(request).documents.download(
            session.principal_token, document_id[:64], thumbnail=thumbnail
        )
    except (grpc.aio.AioRpcError, LookupError) as err:
        if isinstance(err, LookupError) or err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return pages(request).error(request, NOT_FOUND, session=session)
        raise
    return rules.thumbnail_response(chunks) if thumbnail else rules.download_response(doc, chunks)
