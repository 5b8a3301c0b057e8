# ruff: noqa: S106 - the password here is the test data of a masked credential
"""AssetsService.Search (SPEC H4) over a real gRPC socket, on SQLite (FTS5) and PostgreSQL (full text): an asset
by serial (exact and prefix) or a word, a document by its name; only what the list RPCs would show the caller
(View Mine, public documents of its own customer); credentials never; bad input refused; search syntax typed by
the user taken as plain words; rows made before the index migration found after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from assets.assets.models import Asset
from assets.config import Settings
from assets.credentials.crypto import new_key_entry
from assets.documents.models import Document
from assets.main import MIGRATIONS_DIR, NAME, wire
from assets.search import service as search
from portal.assets.v1 import assets_pb2, assets_pb2_grpc, credentials_pb2, credentials_pb2_grpc
from portal.common.v1 import search_pb2
from portal_testkit.services import Keys, Principals, serve_wired
from servicekit import permissions as perm
from servicekit.db import Database
from servicekit.grpc_client import call_options
from servicekit.migrations import upgrade
from servicekit.search import parse_query

A, A_SUB, B = "cust-a", "cust-a-sub", "cust-b"
ALL_A = Principals.portal(
    A, "c1", permissions={perm.ASSETS_VIEW_ALL, perm.ATTACHMENTS_VIEW_PUBLIC}, customer_ids=(A, A_SUB)
)
MINE_A = Principals.portal(A, "c1", permissions={perm.ASSETS_VIEW_MINE, perm.ATTACHMENTS_VIEW_PUBLIC})
STAFF = Principals.technician()


def document(doc_id: str, customer_id: str, filename: str, *, public: bool) -> Document:
    return Document(
        id=doc_id,
        customer_id=customer_id,
        filename=filename,
        content_type="application/pdf",
        size_bytes=10,
        blob_key=f"blob-{doc_id}",
        is_public=public,
        uploaded_by="staff-1",
        uploaded_by_kind="staff",
    )


async def find(stub, token, principal, text: str, *, kinds=(), limit: int = 0, customer_id: str = ""):  # noqa: ANN001
    query = search_pb2.SearchQuery(query=text, kinds=list(kinds), limit_per_kind=limit, customer_id=customer_id)
    resp = await stub.Search(assets_pb2.SearchRequest(query=query), **call_options(token(principal)))
    return resp.results


def titles(results, kind: str) -> list[str]:  # noqa: ANN001
    return [h.title for h in results.hits if h.kind == kind]


@pytest.fixture
async def records(seed, make_asset):  # noqa: ANN001, ANN201
    retired = datetime(2026, 3, 1, tzinfo=UTC)
    await seed(
        make_asset(A, name="Reception printer", serial_number="SN-AB12-9981", asset_type="Printer", contact_id="c1"),
        make_asset(A, name="Finance laptop", serial_number="C02XK1ABJG5H", notes="Battery swapped in March"),
        make_asset(A_SUB, name="Branch printer", serial_number="SN-AB12-7000"),
        make_asset(A, name="Old printer", serial_number="SN-AB12-0001", retired_at=retired),
        make_asset(B, name="Warehouse printer", serial_number="SN-AB12-5555", notes="Battery ok"),
        document("9b0c1f3e-0000-4000-8000-000000000001", A, "Network diagram 2026.pdf", public=True),
        document("9b0c1f3e-0000-4000-8000-000000000002", A, "Network passwords internal.pdf", public=False),
        document("9b0c1f3e-0000-4000-8000-000000000003", B, "Network contract B.pdf", public=True),
        document("9b0c1f3e-0000-4000-8000-000000000004", A_SUB, "Network plan subsidiary.pdf", public=True),
    )


@pytest.fixture
async def served(db: Database, keys: Keys, tmp_path) -> AsyncIterator[grpc.aio.Channel]:  # noqa: ANN001
    settings = Settings(
        principal_public_key_file=keys.write_public_key(tmp_path),
        credential_keys=SecretStr(new_key_entry("k1")),
        database_url="sqlite+aiosqlite://",  # unused: serve_wired is handed the test's database
        nats_url="nats://127.0.0.1:1",
    )
    async with serve_wired(wire, db, keys.verifier, name=NAME, settings=settings) as s:
        yield s.channel


async def test_assets_and_documents_are_found_and_only_the_callers(served, token, records):
    stub = assets_pb2_grpc.AssetsServiceStub(served)
    # An asset by serial, exactly (first) and by prefix; the subsidiary is in scope, another customer and a
    # retired asset are not.
    exact = await find(stub, token, ALL_A, "SN-AB12-9981")
    assert titles(exact, "asset") == ["Reception printer"]
    assert exact.hits[0].snippet.startswith("SN-AB12-9981") and exact.hits[0].customer_id == A
    assert sorted(titles(await find(stub, token, ALL_A, "sn-ab12"), "asset")) == ["Branch printer", "Reception printer"]
    assert titles(await find(stub, token, ALL_A, "C02XK1"), "asset") == ["Finance laptop"]
    # By a word of the name, the type or the notes (as a prefix), with the notes around the match.
    assert sorted(titles(await find(stub, token, ALL_A, "printer"), "asset")) == ["Branch printer", "Reception printer"]
    battery = await find(stub, token, ALL_A, "batt")
    assert titles(battery, "asset") == ["Finance laptop"] and battery.hits[0].snippet == "Battery swapped in March"
    # A document by its name: public ones of the caller's own customer only (as ListDocuments decides).
    assert titles(await find(stub, token, ALL_A, "network"), "document") == ["Network diagram 2026.pdf"]
    for text in ("passwords", "contract", "subsidiary", "SN-AB12-5555", "warehouse", "SN-AB12-0001"):
        assert list((await find(stub, token, ALL_A, text)).hits) == [], text

    # View Mine: the caller's contact's assets only; a group without assets or documents gets no hits, no error.
    assert titles(await find(stub, token, MINE_A, "printer"), "asset") == ["Reception printer"]
    assert titles(await find(stub, token, MINE_A, "laptop"), "asset") == []
    tickets_only = Principals.portal(A, "c1", permissions={perm.TICKETS_VIEW_ALL})
    assert list((await find(stub, token, tickets_only, "network")).hits) == []
    assert list((await find(stub, token, tickets_only, "printer")).hits) == []

    # Staff: every customer (retired assets and internal documents too), narrowed by customer_id.
    everyone = await find(stub, token, STAFF, "printer", kinds=["asset"], limit=20)
    assert len(titles(everyone, "asset")) == 4
    assert titles(await find(stub, token, STAFF, "network", customer_id=B), "document") == ["Network contract B.pdf"]
    assert "Network passwords internal.pdf" in titles(await find(stub, token, STAFF, "passwords"), "document")
    limited = await find(stub, token, STAFF, "printer", kinds=["asset"], limit=2)
    assert len(limited.hits) == 2 and list(limited.truncated_kinds) == ["asset"]

    # A credential is never searched: not its name, username, notes or password, for staff either.
    creds = credentials_pb2_grpc.CredentialsServiceStub(served)
    fields = credentials_pb2.CredentialFields(
        customer_id=A, name="Zebra router", username="zebra-admin", notes="zebra notes", public=True
    )
    await creds.CreateCredential(
        credentials_pb2.CreateCredentialRequest(fields=fields, password="zebra-s3cret-9931"),
        **call_options(token(Principals.staff())),
    )
    for text in ("zebra", "zebra-s3cret-9931", "s3cret"):
        assert list((await find(stub, token, STAFF, text)).hits) == [], text


async def test_the_index_follows_changes_and_syntax_is_plain_text(stub, token, records, db):
    async with db.unit_of_work() as s:
        await s.execute(sa.update(Asset).where(Asset.name == "Finance laptop").values(name="Finance desktop"))
        await s.execute(sa.delete(Asset).where(Asset.name == "Branch printer"))
    assert titles(await find(stub, token, ALL_A, "desktop"), "asset") == ["Finance desktop"]
    assert titles(await find(stub, token, ALL_A, "laptop"), "asset") == []
    assert titles(await find(stub, token, ALL_A, "printer"), "asset") == ["Reception printer"]
    for text in (
        "'",
        '"',
        "*",
        "OR",
        "NEAR(",
        "--",
        "\\",
        "%",
        "_",
        "printer OR laptop",
        "NEAR(printer desktop)",
        "serial_number:SN",
        "x' OR '1'='1",
        "SN-AB12%",
        "sn_ab12",
    ):
        results = await find(stub, token, ALL_A, text)
        assert {h.customer_id for h in results.hits} <= {A, A_SUB}, text
    assert list((await find(stub, token, ALL_A, "%")).hits) == []
    # "%" is no wildcard in the serial match: "SN-AB12%" is found by its words only, below a serial prefix.
    assert [h.rank < 1 for h in (await find(stub, token, ALL_A, "SN-AB12%")).hits] == [True]
    assert [h.rank for h in (await find(stub, token, ALL_A, "SN-AB12")).hits] == [2.0]
    assert titles(await find(stub, token, ALL_A, '"reception" printer*'), "asset") == ["Reception printer"]


BAD_INPUT = [
    ("query", search_pb2.SearchQuery(query="")),
    ("query", search_pb2.SearchQuery(query="é" * 201)),
    ("kinds", search_pb2.SearchQuery(query="printer", kinds=["asset", "invoice"])),
    ("limit_per_kind", search_pb2.SearchQuery(query="printer", limit_per_kind=100)),
    ("customer_id", search_pb2.SearchQuery(query="printer", customer_id="x" * 37)),
]


async def test_bad_input_is_invalid_argument_naming_the_field(stub, token):
    for field, query in BAD_INPUT:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Search(assets_pb2.SearchRequest(query=query), **call_options(token(STAFF)))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert err.value.details().startswith(f"{field}: "), err.value.details()


async def test_rows_made_before_the_index_are_found_after_the_migration(db_url):
    await upgrade(MIGRATIONS_DIR, db_url, "0005")
    db = Database(db_url)
    try:
        async with db.unit_of_work() as s:
            await s.execute(
                sa.text(
                    "INSERT INTO assets (id, customer_id, name, serial_number, asset_type, notes, custom_fields,"
                    " created_at) VALUES ('old-1', 'cust-a', 'Legacy scanner', 'LG-4410', '', '', '[]',"
                    " '2025-01-01 00:00:00')"
                )
            )
            await s.execute(
                sa.text(
                    "INSERT INTO documents (id, customer_id, filename, content_type, size_bytes, blob_key,"
                    " thumbnail_key, is_public, uploaded_by, uploaded_by_kind, created_at) VALUES ('old-doc',"
                    " 'cust-a', 'Scanner manual.pdf', 'application/pdf', 1, 'k', '', TRUE, 's', 'staff',"
                    " '2025-01-01 00:00:00')"
                )
            )
        await upgrade(MIGRATIONS_DIR, db_url)
        async with db.read() as conn:
            query = parse_query(search_pb2.SearchQuery(query="LG-4410"), kinds=search.KINDS, staff=False)
            found = await search.search(conn, principal=ALL_A, query=query)
            assert [h.title for h in found.hits] == ["Legacy scanner"]
            query = parse_query(search_pb2.SearchQuery(query="scanner"), kinds=search.KINDS, staff=False)
            found = await search.search(conn, principal=ALL_A, query=query)
            assert sorted(h.title for h in found.hits) == ["Legacy scanner", "Scanner manual.pdf"]
    finally:
        await db.dispose()
