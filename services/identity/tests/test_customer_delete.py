"""DeleteCustomer over gRPC (SPEC C5): identity asks the four other services' CustomerDataService (here the kit's
real servicer over small databases standing in for theirs) and deletes only when none holds data; a service it
cannot ask stops the delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from identity.config import Settings
from identity.customers.holders import DataHolders, singular
from portal.common.v1 import customer_data_pb2_grpc
from portal.identity.v1 import identity_pb2
from servicekit.customer_data import SERVICE_NAME, CustomerDataServicer
from servicekit.db import Database
from servicekit.errors import Unavailable
from servicekit.grpc_server import GrpcServer, start_grpc_server
from servicekit.metrics import kit_metrics
from servicekit.principal import TokenVerifier, bearer_metadata

from .test_grpc_api import STAFF, principal_token, status_of

TABLES = {"tickets": "tickets", "billing": "invoices", "assets": "assets", "remote": "script_runs"}


@dataclass
class Peer:
    server: GrpcServer
    db: Database
    table: sa.Table

    async def add(self, customer_id: str, n: int = 1) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(self.table.insert(), [{"customer_id": customer_id}] * n)


@pytest.fixture
async def peers(tmp_path: Path, signing_key) -> AsyncIterator[dict[str, Peer]]:  # noqa: ANN001
    out: dict[str, Peer] = {}
    for name, table_name in TABLES.items():
        metadata = sa.MetaData()
        table = sa.Table(
            table_name, metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("customer_id", sa.String)
        )
        db = Database(f"sqlite+aiosqlite:///{tmp_path / name}.db")
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        servicer = CustomerDataServicer(db, service=name, metadata=metadata)
        server = await start_grpc_server(
            address="127.0.0.1:0",
            register=lambda s, sv=servicer: customer_data_pb2_grpc.add_CustomerDataServiceServicer_to_server(sv, s),
            service_names=[SERVICE_NAME],
            verifier=TokenVerifier([signing_key.public_key()]),
            metrics=kit_metrics("identitytestpeers"),
        )
        out[name] = Peer(server, db, table)
    yield out
    for peer in out.values():
        await peer.server.stop(0)
        await peer.db.dispose()


@pytest.fixture
def settings(settings: Settings, peers: dict[str, Peer]) -> Settings:
    """Identity's settings told where the four peers are; conftest's `stub` serves identity with them."""
    return settings.model_copy(update={f"{name}_addr": f"127.0.0.1:{peer.server.port}" for name, peer in peers.items()})


async def _staff(stub, passwords) -> tuple:  # noqa: ANN001
    token = await principal_token(stub, "admin@example.test", passwords["staff"], STAFF)
    return bearer_metadata(token)


async def test_a_customer_with_a_ticket_is_not_deleted_and_the_message_names_the_holders(
    stub, world, passwords, peers
) -> None:
    md = await _staff(stub, passwords)
    await peers["tickets"].add(world.customer_b, 3)
    await peers["billing"].add(world.customer_b)
    await peers["tickets"].add(world.customer_a)  # another customer's records do not count
    code, details = await status_of(
        stub.DeleteCustomer(identity_pb2.DeleteCustomerRequest(customer_id=world.customer_b), metadata=md)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "3 tickets in tickets, 1 invoice in billing" in details and "archive" in details
    holders = await stub.GetCustomerDataHolders(
        identity_pb2.GetCustomerDataHoldersRequest(customer_id=world.customer_b), metadata=md
    )
    assert not holders.deletable and holders.reason == "3 tickets in tickets, 1 invoice in billing"
    assert [(h.service, h.kind, h.count) for h in holders.holders] == [
        ("tickets", "tickets", 3),
        ("billing", "invoices", 1),
    ]
    # Archiving still works, and the customer is still there.
    archived = await stub.SetCustomerArchived(
        identity_pb2.SetCustomerArchivedRequest(customer_id=world.customer_b, archived=True), metadata=md
    )
    assert archived.customer.archived
    got = await stub.GetCustomer(identity_pb2.GetCustomerRequest(customer_id=world.customer_b), metadata=md)
    assert got.customer.id == world.customer_b


async def test_a_customer_nobody_holds_data_for_is_deleted(stub, world, passwords, peers) -> None:
    md = await _staff(stub, passwords)
    created = await stub.CreateCustomer(
        identity_pb2.CreateCustomerRequest(business_name="Empty Co", email="empty@co.test"), metadata=md
    )
    cid = created.customer.id
    holders = await stub.GetCustomerDataHolders(
        identity_pb2.GetCustomerDataHoldersRequest(customer_id=cid), metadata=md
    )
    assert holders.deletable and not holders.holders and holders.reason == ""
    await stub.DeleteCustomer(identity_pb2.DeleteCustomerRequest(customer_id=cid), metadata=md)
    code, _ = await status_of(stub.GetCustomer(identity_pb2.GetCustomerRequest(customer_id=cid), metadata=md))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await status_of(stub.DeleteCustomer(identity_pb2.DeleteCustomerRequest(customer_id=cid), metadata=md))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_a_parent_organisation_is_not_deleted(stub, world, passwords) -> None:
    md = await _staff(stub, passwords)
    await stub.CreateCustomer(
        identity_pb2.CreateCustomerRequest(
            business_name="Branch", email="branch@acme.test", parent_id=world.customer_a
        ),
        metadata=md,
    )
    code, details = await status_of(
        stub.DeleteCustomer(identity_pb2.DeleteCustomerRequest(customer_id=world.customer_a), metadata=md)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "1 subsidiary in identity" in details


async def test_a_service_that_cannot_be_asked_stops_the_delete(stub, world, passwords, peers) -> None:
    md = await _staff(stub, passwords)
    await peers["remote"].server.stop(0)
    code, details = await status_of(
        stub.DeleteCustomer(identity_pb2.DeleteCustomerRequest(customer_id=world.customer_b), metadata=md)
    )
    assert code == grpc.StatusCode.UNAVAILABLE and "remote" in details and "nothing was deleted" in details
    got = await stub.GetCustomer(identity_pb2.GetCustomerRequest(customer_id=world.customer_b), metadata=md)
    assert got.customer.id == world.customer_b


async def test_portal_users_cannot_delete_or_ask(stub, world, passwords) -> None:
    md = bearer_metadata(await principal_token(stub, "alice@acme.test", passwords["alice"]))
    for call in (
        stub.DeleteCustomer(identity_pb2.DeleteCustomerRequest(customer_id=world.customer_a), metadata=md),
        stub.GetCustomerDataHolders(
            identity_pb2.GetCustomerDataHoldersRequest(customer_id=world.customer_a), metadata=md
        ),
        stub.UpdateCustomer(identity_pb2.UpdateCustomerRequest(customer_id=world.customer_a), metadata=md),
        stub.ListCustomFields(identity_pb2.ListCustomFieldsRequest(), metadata=md),
    ):
        code, _ = await status_of(call)
        assert code == grpc.StatusCode.PERMISSION_DENIED
    # Alice sees all of Acme's tickets, so she may list its contacts for the new-ticket form's picker (SPEC T3):
    # names only, and never another customer's.
    listed = await stub.ListContacts(identity_pb2.ListContactsRequest(customer_id=world.customer_a), metadata=md)
    assert listed.contacts and all(
        c.customer_id == world.customer_a and c.name and not c.email for c in listed.contacts
    )
    code, _ = await status_of(
        stub.ListContacts(identity_pb2.ListContactsRequest(customer_id=world.customer_b), metadata=md)
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_without_the_peers_addresses_nothing_is_deleted(tokens) -> None:  # noqa: ANN001
    with pytest.raises(Unavailable, match="IDENTITY_TICKETS_ADDR"):
        await DataHolders({"billing": "127.0.0.1:1"}, tokens=tokens).ask("c-1")


def test_kinds_read_naturally_in_the_singular() -> None:
    assert [singular(k) for k in ("tickets", "subsidiaries", "script runs", "store credit entries", "address")] == [
        "ticket",
        "subsidiary",
        "script run",
        "store credit entry",
        "address",
    ]
