"""Remote access and scripts (SPEC R1, R2, X1, X2) in the authorisation matrix (see harness.py).

What opens each portal route, as the remote service and the gateway decide it:

- the scripts of an asset, running one (API and the confirm page): Assets - Run Script AND one of Assets - View All /
  View Mine (the asset must be visible); the probes record the run on a new ticket, which remote names and tickets
  opens when the run has finished (SPEC X2: the system's doing), so running needs no Tickets permission (recording
  it on an existing ticket needs one the user may see: not probed here);
- a run, its page and its live output: View All or View Mine (remote's visibility of the run: Mine sees the runs
  recorded for its contact);
- opening a remote session, the terminal page, the access requests and deciding one: View All or View Mine (the asset
  must be visible to the caller, which remote asks assets with the caller's own token);
- ending a session: only the user who opened it (remote's rule; a permission grants nothing more), so each allowed
  case ends a session it opened itself (make_id_as).

The probed records are made through the product, once per test session: an asset of acme's harness contact
(routes_assets.make_asset), a portal script (`echo ok`) made by staff over RemoteService, acme's remote access turned
on through the staff API, and a real `portal-agent` enrolled for the asset with a staff enrolment token and run by
the stack (`stack.start_agent`), so runs and sessions have an online device. Another customer's user gets 404.

The terminal's WebSocket (`WEBSOCKETS`) is not an HTTP route: test_remote_terminal.py tests who may attach. The staff
routes (/api/v1/staff/scripts, /agents, …; /staff/…) fall under routes_account's STAFF_PREFIXES: test_coverage and
test_staff_routes_refused.py refuse portal sessions there.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import grpc

from portal.assets.v1 import assets_pb2, assets_pb2_grpc
from portal.remote.v1 import remote_pb2, remote_pb2_grpc
from servicekit import permissions as perm
from tests.authz.harness import Route
from tests.authz.routes_assets import make_asset
from tests.authz.routes_tickets import make_ticket
from tests.authz.world import DEADLINE

VIEW = (perm.ASSETS_VIEW_ALL, perm.ASSETS_VIEW_MINE)
# Running a script on a new ticket needs Run Script only: tickets opens that ticket when the run has finished.
RUN = (perm.ASSETS_RUN_SCRIPT,)
WAIT_SECONDS = 30.0

WEBSOCKETS = {"/assets/{asset_id}/remote/{session_id}/ws"}


@dataclass(frozen=True)
class Device:
    asset_id: str
    script_id: str
    ticket_id: str


_devices: dict[str, Device] = {}
_lock = threading.Lock()


def _channel(addr: str) -> grpc.Channel:
    return grpc.insecure_channel(addr, options=[("grpc.enable_http_proxy", 0)])


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _remote(addr, token: str):  # noqa: ANN001, ANN202
    channel = _channel(addr("remote"))
    return channel, remote_pb2_grpc.RemoteServiceStub(channel), _md(token)


def _enable_remote_access(world, customer) -> None:  # noqa: ANN001
    """SPEC C3's setting on, through the staff API's PUT (which replaces the record: sent back as read)."""
    path = f"/api/v1/staff/customers/{customer.id}"
    with world.staff_http() as c:
        r = c.get(path)
        assert r.status_code == 200, r.text
        record = r.json()
        if record["settings"].get("remote_access_enabled"):
            return
        keys = ("business_name", "first_name", "last_name", "email", "notes", "phones", "addresses", "parent_id")
        body = {k: record[k] for k in keys if k in record}
        body["custom_fields"] = [{"field_id": a["field_id"], "value": a["value"]} for a in record["custom_fields"]]
        body["settings"] = {**record["settings"], "remote_access_enabled": True}
        r = c.put(path, json=body)
        assert r.status_code == 200, r.text


def _wait(what: str, check) -> None:  # noqa: ANN001
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        assert time.monotonic() < deadline, f"{what} within {WAIT_SECONDS:.0f} s"
        time.sleep(0.2)


def device(world, customer) -> Device:  # noqa: ANN001
    """The customer's probed device: an asset of its harness contact with an online agent, a portal script, a ticket,
    and the customer's remote access on (made once, shared by every case)."""
    with _lock:
        if customer.slug in _devices:
            return _devices[customer.slug]
        asset_id = make_asset(world, customer)
        ticket_id = make_ticket(world, customer)
        _enable_remote_access(world, customer)
        staff = world.staff_metadata()
        with _channel(world.grpc_addr("remote")) as channel:
            stub = remote_pb2_grpc.RemoteServiceStub(channel)
            script = stub.CreateScript(
                remote_pb2.CreateScriptRequest(
                    script=remote_pb2.Script(
                        name=f"Authz probe {customer.slug}",
                        language="shell",
                        body="echo ok\n",
                        timeout_seconds=30,
                        portal=True,
                        portal_name="Say ok",
                        portal_confirmation="This prints ok. It changes nothing.",
                    ),
                    idempotency_key=f"authz-script-{customer.slug}",
                ),
                timeout=DEADLINE,
                metadata=staff,
            ).script
            token = stub.CreateEnrolmentToken(
                remote_pb2.CreateEnrolmentTokenRequest(asset_id=asset_id, valid_minutes=30),
                timeout=DEADLINE,
                metadata=staff,
            ).token
            stack = world.stack
            stack.start_agent(
                stack.var_dir / "agents" / f"authz-{customer.slug}", token, name=f"agent-authz-{customer.slug}"
            )

            def online() -> bool:
                req = remote_pb2.ListAgentsRequest(asset_ids=[asset_id])
                return any(
                    a.online for a in stub.ListAgents(req, timeout=DEADLINE, metadata=world.staff_metadata()).agents
                )

            _wait("the probe device's agent online", online)
            # Remote learns the customer's setting from identity's customer_updated event.
            owner = world.principal_token(world.owner(customer))

            def enabled() -> bool:
                req = remote_pb2.OpenRemoteSessionRequest(asset_id=asset_id)
                try:
                    rs = stub.OpenRemoteSession(req, timeout=DEADLINE, metadata=_md(owner)).session
                except grpc.RpcError as err:
                    if err.code() == grpc.StatusCode.PERMISSION_DENIED:  # type: ignore[attr-defined]
                        return False
                    raise
                stub.EndRemoteSession(
                    remote_pb2.EndRemoteSessionRequest(session_id=rs.id), timeout=DEADLINE, metadata=_md(owner)
                )
                return True

            _wait("remote access enabled in remote", enabled)
        _devices[customer.slug] = Device(asset_id, script.id, ticket_id)
        return _devices[customer.slug]


# --- records ------------------------------------------------------------------------------------------------


def make_device_asset(world, customer) -> str:  # noqa: ANN001
    return device(world, customer).asset_id


def make_script_path(world, customer) -> dict[str, str]:  # noqa: ANN001
    d = device(world, customer)
    return {"asset_id": d.asset_id, "script_id": d.script_id}


def make_run(world, customer) -> str:  # noqa: ANN001
    """A finished run of the portal script, started by the owner (so recorded for the harness contact)."""
    d = device(world, customer)
    token = world.principal_token(world.owner(customer))
    channel, stub, md = _remote(world.grpc_addr, token)
    with channel:
        req = remote_pb2.StartScriptRunRequest(asset_id=d.asset_id, script_id=d.script_id, ticket_id=d.ticket_id)
        run = stub.StartScriptRun(req, timeout=DEADLINE, metadata=md).run

        def finished() -> bool:
            got = stub.GetScriptRun(remote_pb2.GetScriptRunRequest(run_id=run.id), timeout=DEADLINE, metadata=md).run
            return got.status in ("succeeded", "failed", "timed_out")

        _wait("the probe run finished", finished)
    return run.id


def _open_session(world, customer, session_token: str) -> str:  # noqa: ANN001
    d = device(world, customer)
    channel, stub, md = _remote(world.grpc_addr, world.principal_token(session_token))
    with channel:
        req = remote_pb2.OpenRemoteSessionRequest(asset_id=d.asset_id, minutes=5)
        return stub.OpenRemoteSession(req, timeout=DEADLINE, metadata=md).session.id


def make_session(world, customer) -> str:  # noqa: ANN001
    """A remote session the owner opened (not attached)."""
    return _open_session(world, customer, world.owner(customer))


def make_session_as(world, customer, session_token: str) -> str:  # noqa: ANN001
    return _open_session(world, customer, session_token)


def make_session_path(world, customer) -> dict[str, str]:  # noqa: ANN001
    return {"asset_id": device(world, customer).asset_id, "session_id": make_session(world, customer)}


def make_session_path_as(world, customer, session_token: str) -> dict[str, str]:  # noqa: ANN001
    return {"asset_id": device(world, customer).asset_id, "session_id": make_session_as(world, customer, session_token)}


def make_access_request(world, customer) -> str:  # noqa: ANN001
    """A pending access request staff sent for the device, on the customer's ticket."""
    d = device(world, customer)
    with _channel(world.grpc_addr("remote")) as channel:
        req = remote_pb2.RequestRemoteAccessRequest(
            asset_id=d.asset_id,
            ticket_id=d.ticket_id,
            window_minutes=30,
            reason="Authz probe",
            idempotency_key=secrets.token_urlsafe(12),
        )
        stub = remote_pb2_grpc.RemoteServiceStub(channel)
        return stub.RequestRemoteAccess(req, timeout=DEADLINE, metadata=world.staff_metadata()).request.id


def make_decision_path(world, customer) -> dict[str, str]:  # noqa: ANN001
    return {"request_id": make_access_request(world, customer), "decision": "decline"}


# --- gRPC probes: the backend calls behind each route, with the user's principal token ------------------------


def _only() -> Device:
    (d,) = _devices.values()
    return d


def _get_asset(addr, token: str, asset_id: str) -> None:  # noqa: ANN001
    with _channel(addr("assets")) as channel:
        stub = assets_pb2_grpc.AssetsServiceStub(channel)
        stub.GetAsset(assets_pb2.GetAssetRequest(asset_id=asset_id), timeout=DEADLINE, metadata=_md(token))


def grpc_asset_scripts(addr, token: str, asset_id: str) -> None:  # noqa: ANN001
    _get_asset(addr, token, asset_id)
    channel, stub, md = _remote(addr, token)
    with channel:
        stub.ListScripts(remote_pb2.ListScriptsRequest(portal_only=True), timeout=DEADLINE, metadata=md)


def grpc_confirm_run(addr, token: str, asset_id: str) -> None:  # noqa: ANN001
    _get_asset(addr, token, asset_id)
    channel, stub, md = _remote(addr, token)
    with channel:
        stub.GetScript(remote_pb2.GetScriptRequest(script_id=_only().script_id), timeout=DEADLINE, metadata=md)


def grpc_start_run(addr, token: str, asset_id: str) -> None:  # noqa: ANN001
    """As the routes do: the asset read, then the run on a new ticket (remote names it, tickets opens it)."""
    _get_asset(addr, token, asset_id)
    channel, stub, md = _remote(addr, token)
    with channel:
        req = remote_pb2.StartScriptRunRequest(asset_id=asset_id, script_id=_only().script_id, new_ticket=True)
        stub.StartScriptRun(req, timeout=DEADLINE, metadata=md)


def grpc_get_run(addr, token: str, run_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _remote(addr, token)
    with channel:
        stub.GetScriptRun(remote_pb2.GetScriptRunRequest(run_id=run_id), timeout=DEADLINE, metadata=md)


def grpc_watch_run(addr, token: str, run_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _remote(addr, token)
    with channel:
        for _ in stub.WatchScriptRun(remote_pb2.WatchScriptRunRequest(run_id=run_id), timeout=DEADLINE, metadata=md):
            pass


def grpc_open_session(addr, token: str, asset_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _remote(addr, token)
    with channel:
        req = remote_pb2.OpenRemoteSessionRequest(asset_id=asset_id, minutes=5)
        stub.OpenRemoteSession(req, timeout=DEADLINE, metadata=md)


def grpc_terminal_page(addr, token: str, _session_id: str) -> None:  # noqa: ANN001
    asset_id = _only().asset_id
    _get_asset(addr, token, asset_id)
    channel, stub, md = _remote(addr, token)
    with channel:
        req = remote_pb2.ListRemoteSessionsRequest(asset_id=asset_id)
        stub.ListRemoteSessions(req, timeout=DEADLINE, metadata=md)


def grpc_end_session(addr, token: str, session_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _remote(addr, token)
    with channel:
        stub.EndRemoteSession(remote_pb2.EndRemoteSessionRequest(session_id=session_id), timeout=DEADLINE, metadata=md)


def grpc_list_requests(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _remote(addr, token)
    with channel:
        stub.ListAccessRequests(remote_pb2.ListAccessRequestsRequest(), timeout=DEADLINE, metadata=md)


def _decide(approve: bool):  # noqa: ANN202
    def probe(addr, token: str, request_id: str) -> None:  # noqa: ANN001
        channel, stub, md = _remote(addr, token)
        with channel:
            req = remote_pb2.DecideAccessRequestRequest(request_id=request_id, approve=approve)
            stub.DecideAccessRequest(req, timeout=DEADLINE, metadata=md)

    return probe


def _asset(method: str, path: str, allowed_by=VIEW, **kw) -> Route:  # noqa: ANN001, ANN003
    return Route(method, path, allowed_by, id_param="asset_id", **kw)


ROUTES = [
    # Scripts and runs (R2, X2).
    _asset(
        "GET",
        "/api/v1/assets/{asset_id}/scripts",
        requires=(perm.ASSETS_RUN_SCRIPT,),
        make_id=make_device_asset,
        grpc=grpc_asset_scripts,
    ),
    _asset(
        "GET",
        "/assets/{asset_id}/scripts/{script_id}/run",
        requires=(perm.ASSETS_RUN_SCRIPT,),
        make_id=make_script_path,
        grpc=grpc_confirm_run,
    ),
    _asset(
        "POST",
        "/api/v1/assets/{asset_id}/script-runs",
        requires=RUN,
        make_id=make_script_path,
        json={"script_id": "{script_id}", "new_ticket": True},
        grpc=grpc_start_run,
    ),
    _asset(
        "POST",
        "/assets/{asset_id}/scripts/{script_id}/run",
        requires=RUN,
        make_id=make_script_path,
        form={"ticket": "new"},
        ok_statuses=(303,),
        grpc=grpc_start_run,
    ),
    Route("GET", "/api/v1/script-runs/{run_id}", VIEW, id_param="run_id", make_id=make_run, grpc=grpc_get_run),
    Route("GET", "/script-runs/{run_id}", VIEW, id_param="run_id", make_id=make_run, grpc=grpc_get_run),
    Route("GET", "/api/v1/script-runs/{run_id}/events", VIEW, id_param="run_id", make_id=make_run, grpc=grpc_watch_run),
    # Remote sessions (R1).
    _asset(
        "POST",
        "/api/v1/assets/{asset_id}/remote-sessions",
        make_id=make_device_asset,
        grpc=grpc_open_session,
    ),
    _asset(
        "POST",
        "/assets/{asset_id}/remote",
        make_id=make_device_asset,
        form={},
        ok_statuses=(303,),
        grpc=grpc_open_session,
    ),
    Route(
        "GET",
        "/assets/{asset_id}/remote/{session_id}",
        VIEW,
        id_param="session_id",
        make_id=make_session_path,
        grpc=grpc_terminal_page,
    ),
    Route(
        "POST",
        "/api/v1/remote-sessions/{session_id}/end",
        VIEW,
        id_param="session_id",
        make_id=make_session,
        make_id_as=make_session_as,
        fresh_record=True,
        grpc=grpc_end_session,
    ),
    Route(
        "POST",
        "/assets/{asset_id}/remote/{session_id}/end",
        VIEW,
        id_param="session_id",
        make_id=make_session_path,
        make_id_as=make_session_path_as,
        fresh_record=True,
        form={},
        ok_statuses=(303,),
        grpc=grpc_end_session,
    ),
    # Access requests (X1).
    Route("GET", "/api/v1/access-requests", VIEW, grpc=grpc_list_requests),
    Route("GET", "/remote-requests", VIEW, grpc=grpc_list_requests),
    Route(
        "POST",
        "/api/v1/access-requests/{request_id}/approve",
        VIEW,
        id_param="request_id",
        make_id=make_access_request,
        fresh_record=True,
        grpc=_decide(True),
    ),
    Route(
        "POST",
        "/api/v1/access-requests/{request_id}/decline",
        VIEW,
        id_param="request_id",
        make_id=make_access_request,
        fresh_record=True,
        grpc=_decide(False),
    ),
    Route(
        "POST",
        "/remote-requests/{request_id}/{decision}",
        VIEW,
        id_param="request_id",
        make_id=make_decision_path,
        fresh_record=True,
        form={},
        ok_statuses=(303,),
        grpc=_decide(False),
    ),
]
