"""Customer documents (SPEC A4) over real gRPC, as main.wire serves them, with a local blob store in a temporary
directory: streamed uploads, refusals that keep nothing, public/internal, tenant isolation, the outbox event."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from PIL import Image

from assets.config import Settings
from assets.main import NAME, wire
from portal.assets.v1 import documents_pb2, documents_pb2_grpc, events_pb2
from portal.common.v1 import common_pb2
from portal_testkit.services import serve_wired
from servicekit import permissions as perm
from servicekit.db import Database
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, KIND_SECURE_LINK, KIND_STAFF, Principal

A, B = "cust-a", "cust-b"
MAX = 3_000_000
CHUNK = 256 * 1024
STAFF = Principal(kind=KIND_STAFF, subject_id="staff-1", staff_role="technician")
VIEWER_A = Principal(
    kind=KIND_PORTAL_USER, subject_id="va", customer_id=A, permissions=frozenset({perm.ATTACHMENTS_VIEW_PUBLIC})
)
UPLOADER_A = Principal(
    kind=KIND_PORTAL_USER,
    subject_id="ua",
    customer_id=A,
    permissions=frozenset({perm.ATTACHMENTS_VIEW_PUBLIC, perm.DOCUMENTS_UPLOAD}),
)
VIEWER_B = Principal(
    kind=KIND_PORTAL_USER, subject_id="vb", customer_id=B, permissions=frozenset({perm.ATTACHMENTS_VIEW_PUBLIC})
)
PUBLIC = documents_pb2.DOCUMENT_VISIBILITY_PUBLIC
INTERNAL = documents_pb2.DOCUMENT_VISIBILITY_INTERNAL


def png(width: int = 64, height: int = 48, noise: bool = False) -> bytes:
    img = Image.effect_noise((width, height), 64).convert("RGB") if noise else Image.new("RGB", (width, height), "red")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def blob_dir(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
async def docs(db: Database, keys, blob_dir: Path) -> AsyncIterator[documents_pb2_grpc.DocumentsServiceStub]:  # noqa: ANN001
    settings = Settings.model_construct(blob_store=str(blob_dir), max_document_bytes=MAX)
    async with serve_wired(wire, db, keys.verifier, name=NAME, settings=settings) as served:
        yield documents_pb2_grpc.DocumentsServiceStub(served.channel)


def blobs(blob_dir: Path) -> list[Path]:
    return sorted(p for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else []


async def upload(
    docs,
    token,
    who: Principal,
    data: bytes,
    *,
    name: str = "a.png",
    customer: str = A,
    visibility: int = 0,
    key: str = "",
) -> documents_pb2.Document:  # noqa: ANN001
    sent: list[int] = []

    async def messages() -> AsyncIterator[documents_pb2.UploadDocumentRequest]:
        meta = documents_pb2.UploadDocumentMetadata(
            customer_id=customer, filename=name, visibility=visibility, idempotency_key=key
        )
        yield documents_pb2.UploadDocumentRequest(metadata=meta)
        for i in range(0, len(data), CHUNK):
            sent.append(len(data[i : i + CHUNK]))
            yield documents_pb2.UploadDocumentRequest(chunk=data[i : i + CHUNK])

    resp = await docs.UploadDocument(messages(), **call_options(token(who)))
    upload.chunks = sent  # type: ignore[attr-defined]
    return resp.document


async def download(docs, token, who: Principal, doc_id: str, *, thumbnail: bool = False) -> tuple:  # noqa: ANN001
    call = docs.DownloadDocument(
        documents_pb2.DownloadDocumentRequest(document_id=doc_id, thumbnail=thumbnail), **call_options(token(who))
    )
    parts = [m async for m in call]
    assert parts[0].WhichOneof("part") == "document"
    assert all(p.WhichOneof("part") == "chunk" for p in parts[1:])
    return parts[0].document, b"".join(p.chunk for p in parts[1:]), [len(p.chunk) for p in parts[1:]]


async def listed(
    docs,
    token,
    who: Principal,
    *,
    customer: str = "",
    query: str = "",
    size: int = 0,
    cursor: str = "",
    newest: bool = False,
):  # noqa: ANN001, ANN201, E501
    req = documents_pb2.ListDocumentsRequest(
        customer_id=customer,
        query=query,
        page=common_pb2.PageRequest(page_size=size, cursor=cursor),
        newest_first=newest,
    )
    return await docs.ListDocuments(req, **call_options(token(who)))


async def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code()


async def test_a_file_streamed_in_chunks_is_stored_whole_with_a_thumbnail_and_downloaded_in_chunks(
    docs, token, blob_dir, db
):
    data = png(900, 700, noise=True)
    assert len(data) > 2 * CHUNK  # really more than one chunk each way
    doc = await upload(docs, token, STAFF, data, name="../plan <1>.PNG", visibility=PUBLIC)
    assert len(upload.chunks) >= 3  # type: ignore[attr-defined]
    assert doc.customer_id == A and doc.size_bytes == len(data) and doc.content_type == "image/png"
    assert doc.has_thumbnail and doc.visibility == PUBLIC and doc.uploaded_by == "staff-1"
    assert "/" not in doc.filename and "<" not in doc.filename
    assert len(blobs(blob_dir)) == 2  # the file and its preview

    meta, body, sizes = await download(docs, token, VIEWER_A, doc.id)
    assert meta.id == doc.id and body == data and len(sizes) >= 3 and max(sizes) <= CHUNK
    _, thumb, _ = await download(docs, token, VIEWER_A, doc.id, thumbnail=True)
    assert thumb.startswith(b"\x89PNG") and Image.open(io.BytesIO(thumb)).size[0] <= 400

    async with db.read() as conn:
        rows = (await conn.execute(sa.text("SELECT subject, payload FROM outbox"))).all()
    assert [r.subject for r in rows] == ["portal.assets.document_added.v1"]
    event = events_pb2.DocumentAdded.FromString(rows[0].payload)
    assert (event.document_id, event.customer_id, event.is_public, event.size_bytes) == (doc.id, A, True, len(data))


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<html><script>alert(1)</script></html>", "page.html"),
        (b"MZ\x90\x00" + b"\x00" * 200, "setup.exe"),
        (b"", "empty.txt"),
        (b"x" * (MAX + 1), "big.txt"),
    ],
)
async def test_a_refused_upload_is_invalid_argument_and_leaves_no_blob_and_no_row(docs, token, blob_dir, data, name):
    assert (
        await code_of(upload(docs, token, STAFF, data, name=name, visibility=PUBLIC))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert blobs(blob_dir) == []
    assert (await listed(docs, token, STAFF, customer=A)).documents == []


async def test_the_first_message_must_be_the_metadata(docs, token):
    async def messages():  # noqa: ANN202
        yield documents_pb2.UploadDocumentRequest(chunk=b"hello")

    call = docs.UploadDocument(messages(), **call_options(token(STAFF)))
    assert await code_of(call) == grpc.StatusCode.INVALID_ARGUMENT


async def test_customers_see_public_documents_only_and_internal_ones_are_not_found(docs, token):
    public = await upload(docs, token, STAFF, b"public notes", name="public.txt", visibility=PUBLIC)
    internal = await upload(docs, token, STAFF, b"internal notes", name="internal.txt", visibility=INTERNAL)
    unset = await upload(docs, token, STAFF, b"unset notes", name="unset.txt")
    assert unset.visibility == INTERNAL  # staff's default is the safe side

    assert [d.id for d in (await listed(docs, token, VIEWER_A)).documents] == [public.id]
    assert [d.id for d in (await listed(docs, token, STAFF, customer=A)).documents] == [
        public.id,
        internal.id,
        unset.id,
    ]
    for doc_id in (internal.id, unset.id):
        assert await code_of(download(docs, token, VIEWER_A, doc_id)) == grpc.StatusCode.NOT_FOUND

    # Staff make the internal one public, and the public one internal.
    opts = call_options(token(STAFF))
    await docs.SetDocumentVisibility(
        documents_pb2.SetDocumentVisibilityRequest(document_id=internal.id, visibility=PUBLIC), **opts
    )
    await docs.SetDocumentVisibility(
        documents_pb2.SetDocumentVisibilityRequest(document_id=public.id, visibility=INTERNAL), **opts
    )
    assert [d.id for d in (await listed(docs, token, VIEWER_A)).documents] == [internal.id]
    _, body, _ = await download(docs, token, VIEWER_A, internal.id)
    assert body == b"internal notes"


async def test_another_customers_documents_are_not_found_and_never_listed(docs, token):
    doc_a = await upload(docs, token, STAFF, b"a notes", name="a.txt", customer=A, visibility=PUBLIC)
    assert (await listed(docs, token, VIEWER_B, customer=A)).documents == []  # customer_id is ignored for them
    assert await code_of(download(docs, token, VIEWER_B, doc_a.id)) == grpc.StatusCode.NOT_FOUND
    assert await code_of(download(docs, token, VIEWER_B, "not-a-uuid")) == grpc.StatusCode.NOT_FOUND
    # A portal user's upload always lands on its own customer, whatever customer_id it sends.
    mine = await upload(docs, token, UPLOADER_A, b"from the customer", name="c.txt", customer=B)
    assert mine.customer_id == A and mine.visibility == PUBLIC and mine.uploaded_by == "ua"
    assert (await listed(docs, token, VIEWER_B)).documents == []


async def test_uploading_needs_documents_upload_and_managing_needs_staff(docs, token, blob_dir):
    code = await code_of(upload(docs, token, VIEWER_A, b"notes", name="n.txt"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert blobs(blob_dir) == []
    code = await code_of(upload(docs, token, UPLOADER_A, b"notes", name="n.txt", visibility=INTERNAL))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    link = Principal(
        kind=KIND_SECURE_LINK, subject_id="l", customer_id=A, permissions=frozenset({perm.DOCUMENTS_UPLOAD})
    )
    assert await code_of(upload(docs, token, link, b"notes", name="n.txt")) == grpc.StatusCode.PERMISSION_DENIED
    no_view = Principal(kind=KIND_PORTAL_USER, subject_id="x", customer_id=A)
    assert await code_of(listed(docs, token, no_view)) == grpc.StatusCode.PERMISSION_DENIED

    doc = await upload(docs, token, UPLOADER_A, b"notes", name="n.txt")
    for call in (
        docs.SetDocumentVisibility(
            documents_pb2.SetDocumentVisibilityRequest(document_id=doc.id, visibility=INTERNAL),
            **call_options(token(UPLOADER_A)),
        ),
        docs.DeleteDocument(documents_pb2.DeleteDocumentRequest(document_id=doc.id), **call_options(token(UPLOADER_A))),
    ):
        assert await code_of(call) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(listed(docs, token, STAFF)) == grpc.StatusCode.INVALID_ARGUMENT  # staff name the customer


async def test_staff_delete_removes_the_row_then_the_blob(docs, token, blob_dir):
    doc = await upload(docs, token, STAFF, png(), name="p.png", visibility=PUBLIC)
    assert len(blobs(blob_dir)) == 2
    await docs.DeleteDocument(documents_pb2.DeleteDocumentRequest(document_id=doc.id), **call_options(token(STAFF)))
    assert blobs(blob_dir) == []
    assert await code_of(download(docs, token, STAFF, doc.id)) == grpc.StatusCode.NOT_FOUND
    code = await code_of(
        docs.DeleteDocument(documents_pb2.DeleteDocumentRequest(document_id=doc.id), **call_options(token(STAFF)))
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_a_repeated_idempotency_key_answers_the_first_document_and_keeps_one_file(docs, token, blob_dir):
    first = await upload(docs, token, UPLOADER_A, b"same notes", name="n.txt", key="k-1")
    again = await upload(docs, token, UPLOADER_A, b"same notes", name="n.txt", key="k-1")
    assert again.id == first.id
    assert len(blobs(blob_dir)) == 1
    other = await upload(docs, token, UPLOADER_A, b"same notes", name="n.txt", key="k-2")
    assert other.id != first.id


async def test_search_by_name_and_keyset_pages_oldest_first(docs, token):
    made = [await upload(docs, token, STAFF, b"x", name=f"report {i}.txt", visibility=PUBLIC) for i in range(5)]
    await upload(docs, token, STAFF, b"x", name="invoice_100%.txt", visibility=PUBLIC)
    seen, cursor = [], ""
    while True:
        page = await listed(docs, token, VIEWER_A, query="REPORT", size=2, cursor=cursor)
        seen += [d.id for d in page.documents]
        if not (cursor := page.page.next_cursor):
            break
    assert seen == [d.id for d in made]
    # Newest first (the home's Recent documents), across pages too.
    seen, cursor = [], ""
    while True:
        page = await listed(docs, token, VIEWER_A, query="REPORT", size=2, cursor=cursor, newest=True)
        seen += [d.id for d in page.documents]
        if not (cursor := page.page.next_cursor):
            break
    assert seen == [d.id for d in reversed(made)]
    assert [d.filename for d in (await listed(docs, token, VIEWER_A, query="100%")).documents] == ["invoice_100%.txt"]
    assert (await listed(docs, token, VIEWER_A, query="t_1")).documents == []  # `_` is a letter here
    code = await code_of(listed(docs, token, VIEWER_A, cursor="garbage!"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
