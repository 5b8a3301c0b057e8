"""Internal documents (SPEC A4) are staff's alone: to the customer they belong to — a portal admin with every
permission — each download route and the RPC answer 404 / NOT_FOUND, and no list shows them; once staff make the
document public the same user downloads it, so the 404 was the visibility's doing."""

from __future__ import annotations

import grpc
import pytest

from portal.assets.v1 import documents_pb2, documents_pb2_grpc
from servicekit.permissions import CATALOGUE
from tests.authz.routes_documents import grpc_download, staff_document
from tests.authz.world import AuthzWorld


def test_an_internal_document_is_not_found_for_its_own_customer(authz_world: AuthzWorld) -> None:
    acme = authz_world.customers["acme"]
    doc_id = staff_document(authz_world, acme, filename="internal-probe.txt", data=b"staff only\n", public=False)
    session = authz_world.session(acme, frozenset(CATALOGUE))
    with authz_world.http(session, page=True) as c:
        for path in (f"/documents/{doc_id}/download", f"/documents/{doc_id}/thumbnail"):
            assert c.get(path).status_code == 404, path
        assert doc_id not in c.get("/documents", params={"q": "internal-probe"}).text
        assert doc_id not in c.get("/").text
    with authz_world.http(session, page=False) as c:
        assert c.get(f"/api/v1/documents/{doc_id}/download").status_code == 404
        assert c.get("/api/v1/documents", params={"q": "internal-probe"}).json()["items"] == []
    with pytest.raises(grpc.RpcError) as err:
        grpc_download(authz_world.grpc_addr, authz_world.principal_token(session), doc_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]

    with grpc.insecure_channel(authz_world.grpc_addr("assets"), options=[("grpc.enable_http_proxy", 0)]) as channel:
        documents_pb2_grpc.DocumentsServiceStub(channel).SetDocumentVisibility(
            documents_pb2.SetDocumentVisibilityRequest(
                document_id=doc_id, visibility=documents_pb2.DOCUMENT_VISIBILITY_PUBLIC
            ),
            timeout=10,
            metadata=authz_world.staff_metadata(),
        )
    with authz_world.http(session, page=False) as c:
        r = c.get(f"/api/v1/documents/{doc_id}/download")
        assert r.status_code == 200 and r.content == b"staff only\n"
