"""The script catalogue over a real socket (SQLite and PostgreSQL), and the sweeper over the database."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from portal.remote.v1 import remote_pb2
from portal_testkit.services import Principals
from remote.script_runs import service as script_runs
from remote.script_runs.models import FAILED, RUNNING, SUCCEEDED
from remote.sessions import service as sessions
from remote.sessions.models import RemoteSession
from servicekit.db import utcnow
from servicekit.grpc_client import call_options
from servicekit.permissions import ASSETS_RUN_SCRIPT, ASSETS_VIEW_ALL

STAFF = Principals.technician()
PORTAL = Principals.portal("cust-a", permissions={ASSETS_VIEW_ALL, ASSETS_RUN_SCRIPT})


def body(**fields) -> remote_pb2.Script:
    return remote_pb2.Script(**{"name": "Flush DNS", "language": "shell", "body": "ipconfig /flushdns", **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"language": "perl"}, "language"),
        ({"body": "  "}, "body"),
        ({"body": "x" * (64 * 1024 + 1)}, "body"),
        ({"timeout_seconds": 3601}, "timeout_seconds"),
        ({"variables": [remote_pb2.ScriptVariable(name="lower")]}, "variables"),
        ({"variables": [remote_pb2.ScriptVariable(name="A"), remote_pb2.ScriptVariable(name="A")]}, "variables"),
        ({"portal": True, "portal_confirmation": "Sure?"}, "portal_name"),
        ({"portal": True, "portal_name": "Fix the network"}, "portal_confirmation"),
    ],
    ids=["name", "language", "empty-body", "big-body", "timeout", "var-name", "var-twice", "portal-name", "confirm"],
)
async def test_a_bad_script_is_invalid_argument_naming_the_field(stub, token, fields, field):
    req = remote_pb2.CreateScriptRequest(script=body(**fields))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateScript(req, **call_options(token(STAFF)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")


async def test_create_is_idempotent_staff_only_and_the_portal_sees_no_body(stub, token):
    req = remote_pb2.CreateScriptRequest(
        script=body(portal=True, portal_name="Fix the network", portal_confirmation="Sure?"), idempotency_key="k"
    )
    made = (await stub.CreateScript(req, **call_options(token(STAFF)))).script
    again = (await stub.CreateScript(req, **call_options(token(STAFF)))).script
    assert made.id == again.id and made.timeout_seconds == 300
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateScript(req, **call_options(token(PORTAL)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    seen = (await stub.GetScript(remote_pb2.GetScriptRequest(script_id=made.id), **call_options(token(PORTAL)))).script
    assert (seen.name, seen.body) == ("Fix the network", "")
    viewer = Principals.portal("cust-a", permissions={ASSETS_VIEW_ALL})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListScripts(remote_pb2.ListScriptsRequest(), **call_options(token(viewer)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await stub.DeleteScript(remote_pb2.DeleteScriptRequest(script_id=made.id), **call_options(token(STAFF)))
    listed = await stub.ListScripts(remote_pb2.ListScriptsRequest(), **call_options(token(STAFF)))
    assert list(listed.scripts) == []


async def test_the_sweeper_fails_runs_past_timeout_and_ends_sessions_past_their_limit(db, seed, make_run):
    now = utcnow()
    stuck = make_run("c", status=RUNNING, exit_code=None, finished_at=None, started_at=now - timedelta(seconds=400))
    young = make_run("c", status=RUNNING, exit_code=None, finished_at=None, started_at=now - timedelta(seconds=100))
    done = make_run("c", status=SUCCEEDED, started_at=now - timedelta(hours=1))
    over = RemoteSession(
        customer_id="c",
        asset_id="a",
        agent_id="g",
        opened_by_kind="portal",
        opened_by="Ann",
        opener_kind="portal_user",
        opener_subject="u",
        started_at=now - timedelta(minutes=20),
        ends_at=now - timedelta(minutes=5),
    )
    await seed(stuck, young, done, over)
    async with db.unit_of_work() as s:
        assert await script_runs.sweep_stuck(s) == [stuck.id]
        assert await sessions.sweep_past_limit(s) == [over.id]
    async with db.unit_of_work() as s:
        assert (await s.get(type(stuck), stuck.id)).status == FAILED
        assert (await s.get(type(young), young.id)).status == RUNNING
        assert (await s.get(RemoteSession, over.id)).end_reason == "limit"
