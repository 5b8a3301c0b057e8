"""Customer documents (SPEC A4) in the authorisation matrix (see harness.py). Documents are made public by staff
for the probed customer, so "another customer's id → 404" is checked on every download; that an internal
document is 404 to the customer itself is test_documents_internal.py. The staff routes
(/staff/customers/{id}/documents, /staff/documents/…, /api/v1/staff/customers/{id}/documents,
/api/v1/staff/documents/…) fall under routes_account's STAFF_PREFIXES: test_staff_routes_refused.py refuses a
customer's token on each of them."""

from __future__ import annotations

import io
import secrets

import grpc
from PIL import Image

from portal.assets.v1 import documents_pb2, documents_pb2_grpc
from servicekit import permissions as perm
from tests.authz.harness import Route

VIEW = (perm.ATTACHMENTS_VIEW_PUBLIC,)
UPLOAD = (perm.DOCUMENTS_UPLOAD,)
PROBE_FILE = {"file": ("probe.txt", b"probe\n", "text/plain")}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 90, 200)).save(buf, format="PNG")
    return buf.getvalue()


def _stub(addr, token: str):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(addr("assets"), options=[("grpc.enable_http_proxy", 0)])
    return channel, documents_pb2_grpc.DocumentsServiceStub(channel), (("authorization", f"Bearer {token}"),)


def _upload_messages(customer_id: str, filename: str, data: bytes, visibility: int):  # noqa: ANN202
    meta = documents_pb2.UploadDocumentMetadata(customer_id=customer_id, filename=filename, visibility=visibility)
    yield documents_pb2.UploadDocumentRequest(metadata=meta)
    yield documents_pb2.UploadDocumentRequest(chunk=data)


def staff_document(world, customer, *, filename: str, data: bytes, public: bool) -> str:  # noqa: ANN001
    """A document staff put on the customer, over gRPC."""
    visibility = documents_pb2.DOCUMENT_VISIBILITY_PUBLIC if public else documents_pb2.DOCUMENT_VISIBILITY_INTERNAL
    with grpc.insecure_channel(world.grpc_addr("assets"), options=[("grpc.enable_http_proxy", 0)]) as channel:
        resp = documents_pb2_grpc.DocumentsServiceStub(channel).UploadDocument(
            _upload_messages(customer.id, filename, data, visibility), timeout=10, metadata=world.staff_metadata()
        )
    return resp.document.id


def make_document(world, customer) -> str:  # noqa: ANN001
    return staff_document(world, customer, filename="probe.txt", data=b"probe\n", public=True)


def make_image_document(world, customer) -> str:  # noqa: ANN001
    return staff_document(world, customer, filename="probe.png", data=_png(), public=True)


def grpc_list(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.ListDocuments(documents_pb2.ListDocumentsRequest(), timeout=10, metadata=md)


def grpc_upload(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.UploadDocument(
            _upload_messages("", f"probe-{secrets.token_hex(4)}.txt", b"probe\n", 0), timeout=10, metadata=md
        )


def grpc_download(addr, token: str, document_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        req = documents_pb2.DownloadDocumentRequest(document_id=document_id)
        assert list(stub.DownloadDocument(req, timeout=10, metadata=md))


def grpc_thumbnail(addr, token: str, document_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        req = documents_pb2.DownloadDocumentRequest(document_id=document_id, thumbnail=True)
        assert list(stub.DownloadDocument(req, timeout=10, metadata=md))


ROUTES = [
    # The page opens with either permission: the list for Attachments - View Public, the form for Documents - Upload
    # (the list's RPC is probed on the API route).
    Route("GET", "/documents", VIEW + UPLOAD),
    Route("POST", "/documents", UPLOAD, form={}, files=PROBE_FILE, ok_statuses=(303,), grpc=grpc_upload),
    Route(
        "GET",
        "/documents/{document_id}/download",
        VIEW,
        id_param="document_id",
        make_id=make_document,
        grpc=grpc_download,
    ),
    Route(
        "GET",
        "/documents/{document_id}/thumbnail",
        VIEW,
        id_param="document_id",
        make_id=make_image_document,
        grpc=grpc_thumbnail,
    ),
    Route("GET", "/api/v1/documents", VIEW, grpc=grpc_list),
    Route("POST", "/api/v1/documents", UPLOAD, files=PROBE_FILE, grpc=grpc_upload),
    Route(
        "GET",
        "/api/v1/documents/{document_id}/download",
        VIEW,
        id_param="document_id",
        make_id=make_document,
        grpc=grpc_download,
    ),
]
