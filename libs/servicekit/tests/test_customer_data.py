"""CustomerDataService over a real socket: counts every table with a customer_id (settings tables excepted),
names kinds, answers staff and services only (SPEC C5)."""

import grpc
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.common.v1 import customer_data_pb2, customer_data_pb2_grpc
from servicekit import customer_data
from servicekit.app import Wiring
from servicekit.db import Database
from servicekit.grpc_client import call_options, open_channel
from servicekit.grpc_server import start_grpc_server
from servicekit.metrics import kit_metrics
from servicekit.principal import KIND_PORTAL_USER, KIND_SERVICE, KIND_STAFF, Principal, TokenSigner, TokenVerifier

metadata = sa.MetaData()
widgets = sa.Table(
    "widgets", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("customer_id", sa.String)
)
widget_notes = sa.Table(
    "widget_notes", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("customer_id", sa.String)
)
prefs = sa.Table("prefs", metadata, sa.Column("customer_id", sa.String, primary_key=True))
counters = sa.Table("counters", metadata, sa.Column("name", sa.String, primary_key=True))


@pytest.fixture
async def served(db_url):
    db = Database(db_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(widgets.insert(), [{"customer_id": "c-1"}, {"customer_id": "c-1"}, {"customer_id": "c-2"}])
        await conn.execute(widget_notes.insert(), [{"customer_id": "c-1"}])
        await conn.execute(prefs.insert(), [{"customer_id": "c-3"}])
    servicer = customer_data.CustomerDataServicer(
        db, service="widgets", metadata=metadata, kinds={"widgets": "blue widgets"}, settings=("prefs",)
    )
    wiring = customer_data.include(Wiring(register=lambda s: None, service_names=[]), servicer)
    key = Ed25519PrivateKey.generate()
    srv = await start_grpc_server(
        address="127.0.0.1:0",
        register=wiring.register,
        service_names=wiring.service_names,
        verifier=TokenVerifier([key.public_key()]),
        metrics=kit_metrics("kitcustomerdata"),
    )
    channel = open_channel(f"127.0.0.1:{srv.port}")
    yield customer_data_pb2_grpc.CustomerDataServiceStub(channel), TokenSigner(key), wiring
    await channel.close()
    await srv.stop(0)
    await db.dispose()


async def _count(stub, signer, principal, customer_id):
    token, _ = signer.sign(principal)
    req = customer_data_pb2.CountCustomerDataRequest(customer_id=customer_id)
    return await stub.CountCustomerData(req, **call_options(token))


async def test_counts_each_table_with_a_customer_id(served):
    stub, signer, wiring = served
    assert customer_data.SERVICE_NAME in wiring.service_names
    resp = await _count(stub, signer, Principal(kind=KIND_STAFF, subject_id="s"), "c-1")
    assert resp.service == "widgets"
    assert [(c.kind, c.count) for c in resp.counts] == [("blue widgets", 2), ("widget notes", 1)]
    # A settings row alone holds no data; nothing at all is an empty answer.
    for empty in ("c-3", "c-4"):
        assert not (await _count(stub, signer, Principal(kind=KIND_SERVICE, subject_id="identity"), empty)).counts


async def test_portal_users_are_refused_and_an_id_is_required(served):
    stub, signer, _ = served
    portal = Principal(kind=KIND_PORTAL_USER, subject_id="u", customer_id="c-1", customer_ids=("c-1",))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _count(stub, signer, portal, "c-1")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _count(stub, signer, Principal(kind=KIND_STAFF, subject_id="s"), "")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
