"""RemoteService over a real localhost gRPC socket with principal tokens, as the gateway calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.common.v1 import common_pb2
from portal.remote.v1 import remote_pb2
from remote.script_runs.models import FAILED, RUNNING
from servicekit import permissions as perm
from servicekit.grpc_client import call_options
from servicekit.principal import KIND_PORTAL_USER, Principal, TokenSigner

A, B = "cust-a", "cust-b"
T = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
USER_A = Principal(kind=KIND_PORTAL_USER, subject_id="ua", customer_id=A, permissions=frozenset({perm.ASSETS_VIEW_ALL}))
USER_B = Principal(kind=KIND_PORTAL_USER, subject_id="ub", customer_id=B, permissions=frozenset({perm.ASSETS_VIEW_ALL}))


def request(page_size: int = 0, cursor: str = "") -> remote_pb2.ListScriptRunsRequest:
    return remote_pb2.ListScriptRunsRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_without_a_token_the_call_is_unauthenticated(stub):
    err = await rpc_error(stub.ListScriptRuns(request(), **call_options(None)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_signed_by_another_key_is_unauthenticated(stub):
    forged, _ = TokenSigner(Ed25519PrivateKey.generate()).sign(USER_A)
    err = await rpc_error(stub.ListScriptRuns(request(), **call_options(forged)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_each_customer_sees_only_its_own_runs(stub, seed, make_run, token):
    await seed(make_run(A, id="run-a"), make_run(B, id="run-b"))
    resp_b = await stub.ListScriptRuns(request(), **call_options(token(USER_B)))
    assert [r.id for r in resp_b.script_runs] == ["run-b"]
    resp_a = await stub.ListScriptRuns(request(), **call_options(token(USER_A)))
    assert [r.id for r in resp_a.script_runs] == ["run-a"]


async def test_mine_gets_an_empty_list_not_an_error(stub, seed, make_run, token):
    await seed(make_run(A))
    mine = Principal(
        kind=KIND_PORTAL_USER,
        subject_id="u",
        customer_id=A,
        contact_id="ctc-1",
        permissions=frozenset({perm.ASSETS_VIEW_MINE}),
    )
    resp = await stub.ListScriptRuns(request(), **call_options(token(mine)))
    assert list(resp.script_runs) == [] and resp.page.next_cursor == ""


async def test_a_group_with_neither_asset_permission_is_denied(stub, token):
    tickets_only = Principal(
        kind=KIND_PORTAL_USER, subject_id="u", customer_id=A, permissions=frozenset({perm.TICKETS_VIEW_MINE})
    )
    err = await rpc_error(stub.ListScriptRuns(request(), **call_options(token(tickets_only))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("page", [request(cursor="not a cursor"), request(page_size=-1)], ids=["cursor", "page_size"])
async def test_bad_paging_is_invalid_argument(stub, token, page):
    err = await rpc_error(stub.ListScriptRuns(page, **call_options(token(USER_A))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_run_as_the_portal_shows_it(stub, seed, make_run, token):
    await seed(
        make_run(
            A,
            id="failed",
            asset_id="asset-7",
            script_name="Restart spooler",
            status=FAILED,
            exit_code=3,
            started_at=T,
            finished_at=T + timedelta(seconds=5),
        ),
        make_run(A, id="running", status=RUNNING, exit_code=None, started_at=T - timedelta(hours=1), finished_at=None),
    )
    failed, running = (await stub.ListScriptRuns(request(), **call_options(token(USER_A)))).script_runs
    assert (failed.id, failed.customer_id, failed.asset_id) == ("failed", A, "asset-7")
    assert (failed.script_name, failed.status, failed.exit_code) == ("Restart spooler", "failed", 3)
    assert failed.started_at.ToDatetime(tzinfo=UTC) == T
    assert failed.finished_at.ToDatetime(tzinfo=UTC) == T + timedelta(seconds=5)
    assert (running.status, running.exit_code, running.HasField("finished_at")) == ("running", 0, False)


async def test_pages_walk_every_run_once_newest_first(stub, seed, make_run, token):
    runs = [make_run(A, started_at=T + timedelta(seconds=i % 3)) for i in range(7)]
    await seed(*runs, make_run(B, started_at=T))
    expected = [r.id for r in sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True)]

    seen, cursor = [], ""
    while True:
        resp = await stub.ListScriptRuns(request(page_size=2, cursor=cursor), **call_options(token(USER_A)))
        assert len(resp.script_runs) <= 2
        seen += [r.id for r in resp.script_runs]
        cursor = resp.page.next_cursor
        if not cursor:
            break
    assert seen == expected
