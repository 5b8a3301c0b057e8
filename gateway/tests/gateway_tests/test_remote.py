"""Remote access and scripts in the gateway (issue 14), over the fake backends: the pages degrade per section when
remote does not answer, what each user is offered, the terminal WebSocket's Origin and session checks and its relay,
CSRF on the forms, problem+json and the OpenAPI description. The rules themselves are the remote service's (its own
tests); the cross-service flows are tests/e2e."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest

from gateway.areas.remote import remote_url
from gateway.clients.schemas import Asset
from gateway_tests.conftest import FakeBackends, Gateway, csrf_from, free_port, running_gateway
from servicekit import permissions as perm

UNAVAILABLE = "Remote actions are unavailable right now"


@pytest.fixture
async def gw_remote_down(backends: FakeBackends) -> AsyncIterator[Gateway]:
    """Every backend answers but remote: its address is a closed port (UNAVAILABLE at once)."""
    async with running_gateway(backends, remote_addr=f"127.0.0.1:{free_port()}") as g:
        yield g


async def test_pages_stand_when_remote_is_down(gw_remote_down: Gateway) -> None:
    gw = gw_remote_down
    await gw.sign_in()
    asset = await gw.client.get("/assets/ast-1")
    assert asset.status_code == 200 and "Reception PC" in asset.text
    assert UNAVAILABLE in asset.text and 'id="remote-action"' not in asset.text
    assert "Tickets" in asset.text  # the rest of the page stands
    listing = await gw.client.get("/assets")
    assert listing.status_code == 200 and "Unavailable right now" in listing.text and "Reception PC" in listing.text
    home = await gw.client.get("/")
    assert home.status_code == 200 and 'id="remote-requests-notice"' not in home.text
    for path in ("/remote-requests", "/script-runs/run-x", "/assets/ast-1/scripts/scr-1/run"):
        page = await gw.client.get(path)
        assert page.status_code == 200 and UNAVAILABLE in page.text, path
    french = await gw.client.get("/assets/ast-1", headers={"Accept-Language": "fr"})
    assert "Les actions à distance sont indisponibles" in french.text


async def test_terminal_socket_closes_when_remote_is_down(gw_remote_down: Gateway) -> None:
    gw = gw_remote_down
    await gw.sign_in()
    sent = await ws_call(gw, "/assets/ast-1/remote/rs-1/ws", origin="https://testserver", cookie=portal_cookie(gw))
    assert sent[-1]["type"] == "websocket.close" and sent[-1]["code"] == 4503


async def test_staff_asset_page_stands_when_remote_is_down(gw_remote_down: Gateway) -> None:
    gw = gw_remote_down
    await staff_sign_in(gw)
    page = await gw.client.get("/staff/assets/ast-1")
    assert page.status_code == 200 and UNAVAILABLE in page.text and "Reception PC" in page.text
    scripts = await gw.client.get("/staff/scripts")
    assert scripts.status_code == 200 and UNAVAILABLE in scripts.text


async def test_asset_page_offers_agent_remote_action_and_scripts(gw: Gateway) -> None:
    await gw.sign_in()
    page = await gw.client.get("/assets/ast-1")
    assert page.status_code == 200
    assert 'data-agent-status="online"' in page.text
    assert 'data-remote-action="open"' in page.text and 'action="/assets/ast-1/remote"' in page.text
    assert 'data-script-id="scr-1"' in page.text and "Fix my internet" in page.text
    offline = await gw.client.get("/assets/ast-2")
    assert 'data-agent-status="offline"' in offline.text and 'id="remote-action"' not in offline.text
    listing = await gw.client.get("/assets")
    assert 'data-remote-cell="ast-1"' in listing.text and listing.text.count('data-remote-action="open"') == 1
    assert gw.world.calls["ListAgents"] == 3  # one batch call for the list page


async def test_remote_action_and_scripts_are_hidden_without_the_rule(gw: Gateway) -> None:
    alice = gw.world.users["alice@acme.test"].principal
    alice.permissions.remove(perm.ASSETS_RUN_SCRIPT)
    gw.world.remote_access["cus-a"] = False
    await gw.sign_in()
    page = await gw.client.get("/assets/ast-1")
    assert page.status_code == 200 and 'data-agent-status="online"' in page.text
    assert 'id="remote-action"' not in page.text and "data-script-id" not in page.text
    confirm = await gw.client.get("/assets/ast-1/scripts/scr-1/run")
    assert confirm.status_code == 404
    token = await gw.api_token()
    refused = await gw.client.post(
        "/api/v1/assets/ast-1/script-runs",
        json={"script_id": "scr-1", "new_ticket": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"


async def test_remote_url_template_quotes_the_asset(backends: FakeBackends) -> None:
    name = 'asset name with "quotes" & spaces'
    assert remote_url(
        "https://rc.example/c?id={asset_id}&n={asset_name}", Asset.model_construct(id="a/1", name=name)
    ) == ("https://rc.example/c?id=a%2F1&n=asset%20name%20with%20%22quotes%22%20%26%20spaces")
    backends.world.assets[0].name = name
    backends.world.agents[0].online = False  # a template link needs no agent of ours
    async with running_gateway(backends, remote_url_template="https://rc.example/c?n={asset_name}&id={asset_id}") as gw:
        await gw.sign_in()
        page = await gw.client.get("/assets/ast-1")
        assert 'data-remote-action="link"' in page.text
        assert (
            'href="https://rc.example/c?n=asset%20name%20with%20%22quotes%22%20%26%20spaces&amp;id=ast-1"' in page.text
        )


async def test_running_a_portal_script_records_it_on_a_new_ticket(gw: Gateway) -> None:
    await gw.sign_in()
    confirm = await gw.client.get("/assets/ast-1/scripts/scr-1/run")
    assert confirm.status_code == 200 and "This clears the device&#39;s DNS cache." in confirm.text
    assert '<option value="tkt-1">' in confirm.text and '<option value="tkt-3">' not in confirm.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', confirm.text).group(1)
    form = {"csrf_token": csrf_from(confirm.text), "idempotency_key": key, "ticket": "new"}
    tickets_before = len(gw.world.tickets)
    done = await gw.client.post("/assets/ast-1/scripts/scr-1/run", data=form)
    assert done.status_code == 303 and done.headers["location"] == f"/script-runs/run-{key}"
    again = await gw.client.post("/assets/ast-1/scripts/scr-1/run", data=form)  # a double submit
    assert again.headers["location"] == done.headers["location"]
    # The gateway makes no ticket: remote names the new one and tickets opens it when the run has finished.
    assert len(gw.world.tickets) == tickets_before
    run = gw.world.script_runs[-1]
    assert run.new_ticket and run.ticket_id == f"tkt-for-run-{key}"
    page = await gw.client.get(done.headers["location"])
    assert page.status_code == 200 and 'id="run-output"' in page.text
    assert f'data-events="/api/v1/script-runs/run-{key}/events"' in page.text
    assert '<meta http-equiv="refresh" content="2">' in page.text
    # While it runs the page says where it will be recorded, and links the ticket only once the run has finished.
    assert "Recorded on a new ticket when the run finishes" in page.text and 'id="run-ticket"' not in page.text
    assert f'data-href="/tickets/{run.ticket_id}"' in page.text
    run.status = "succeeded"
    run.finished_at.CopyFrom(run.started_at)
    page = await gw.client.get(done.headers["location"])
    assert f'<a href="/tickets/{run.ticket_id}" id="run-ticket">' in page.text
    assert "when the run finishes" not in page.text
    # Another customer's ticket is refused, nothing runs.
    other = await gw.client.post("/assets/ast-1/scripts/scr-1/run", data={**form, "ticket": "tkt-3"})
    assert other.status_code == 400 and "Choose one of your open tickets" in other.text
    gw.world.device_offline = True
    offline = await gw.client.post(
        "/assets/ast-1/scripts/scr-1/run", data={**form, "idempotency_key": "k" * 20, "ticket": "tkt-1"}
    )
    assert offline.status_code == 409 and "The device is offline" in offline.text


async def test_run_script_alone_runs_on_a_new_ticket_and_offers_no_existing_ones(gw: Gateway) -> None:
    """SPEC X2: Assets - Run Script (with asset visibility) is enough; without ticket visibility no ticket is
    listed or accepted, and "A new ticket" is still offered."""
    principal = gw.world.users["alice@acme.test"].principal
    del principal.permissions[:]
    principal.permissions.extend([perm.ASSETS_VIEW_ALL, perm.ASSETS_RUN_SCRIPT])
    await gw.sign_in()
    asset = await gw.client.get("/assets/ast-1")
    assert asset.status_code == 200 and "/assets/ast-1/scripts/scr-1/run" in asset.text
    confirm = await gw.client.get("/assets/ast-1/scripts/scr-1/run")
    assert confirm.status_code == 200 and '<option value="new" selected>' in confirm.text
    assert '<option value="tkt-1">' not in confirm.text
    form = {"csrf_token": csrf_from(confirm.text), "idempotency_key": "r" * 24, "ticket": "tkt-1"}
    picked = await gw.client.post("/assets/ast-1/scripts/scr-1/run", data=form)
    assert picked.status_code == 400 and not gw.world.script_runs
    done = await gw.client.post("/assets/ast-1/scripts/scr-1/run", data={**form, "ticket": "new"})
    assert done.status_code == 303 and gw.world.script_runs[-1].new_ticket

    token = await gw.api_token()
    started = await gw.client.post(
        "/api/v1/assets/ast-1/script-runs",
        json={"script_id": "scr-1", "new_ticket": True},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "n" * 24},
    )
    assert started.status_code == 201, started.text
    assert started.json()["new_ticket"] and started.json()["ticket_id"] == f"tkt-for-run-{'n' * 24}"


async def test_run_events_relay_the_watch_as_server_sent_events(gw: Gateway) -> None:
    token = await gw.api_token()
    auth = {"Authorization": f"Bearer {token}"}
    started = await gw.client.post(
        "/api/v1/assets/ast-1/script-runs",
        json={"script_id": "scr-1", "ticket_id": "tkt-1"},
        headers={**auth, "Idempotency-Key": "a" * 24},
    )
    assert started.status_code == 201 and started.json()["ticket_id"] == "tkt-1"
    run_id = started.json()["id"]
    events = await gw.client.get(f"/api/v1/script-runs/{run_id}/events", headers=auth)
    assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
    assert "event: output\nid: 9\ndata: line one\n" in events.text
    finished = events.text.split("event: finished\ndata: ")[1].split("\n")[0]
    assert json.loads(finished)["status"] == "succeeded"
    # A browser's EventSource sends the portal cookie instead of a bearer token; none at all is 401.
    await gw.sign_in()
    by_cookie = await gw.client.get(f"/api/v1/script-runs/{run_id}/events", headers={"Last-Event-ID": "9"})
    assert by_cookie.status_code == 200 and "line one" not in by_cookie.text and "<b>two</b>" in by_cookie.text
    gw.client.cookies.clear()
    nobody = await gw.client.get(f"/api/v1/script-runs/{run_id}/events")
    assert nobody.status_code == 401 and nobody.headers["content-type"] == "application/problem+json"


async def test_api_problems(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {await gw.api_token()}"}
    bad = await gw.client.post("/api/v1/assets/ast-1/script-runs", json={"script_id": ""}, headers=auth)
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    key = await gw.client.post(
        "/api/v1/assets/ast-1/script-runs", json={"script_id": "scr-1"}, headers={**auth, "Idempotency-Key": "x y"}
    )
    assert key.status_code == 400
    gw.world.device_offline = True
    offline = await gw.client.post(
        "/api/v1/assets/ast-1/script-runs", json={"script_id": "scr-1", "ticket_id": "tkt-1"}, headers=auth
    )
    assert offline.status_code == 409 and offline.json()["detail"] == "device offline"
    other = await gw.client.post(
        "/api/v1/assets/ast-1/script-runs", json={"script_id": "scr-1", "ticket_id": "tkt-3"}, headers=auth
    )
    assert other.status_code == 400 and other.json()["errors"][0]["field"] == "ticket_id"
    missing = await gw.client.get("/api/v1/script-runs/nope", headers=auth)
    assert missing.status_code == 404
    staff_only = await gw.client.get("/api/v1/staff/scripts", headers=auth)
    assert staff_only.status_code == 403
    window = await gw.client.post(
        "/api/v1/staff/assets/ast-1/access-requests",
        json={"ticket_id": "tkt-1", "window_minutes": 999, "reason": "x"},
        headers={"Authorization": f"Bearer {await staff_api_token(gw)}"},
    )
    assert window.status_code == 400 and "window_minutes" in window.json()["detail"]


async def test_access_requests_page_approve_and_home_notice(gw: Gateway) -> None:
    await gw.sign_in()
    home = await gw.client.get("/")
    assert 'id="remote-requests-notice"' in home.text
    page = await gw.client.get("/remote-requests")
    assert page.status_code == 200 and 'id="approve-req-1"' in page.text
    assert "Check the &lt;printer&gt; driver" in page.text and 'href="/tickets/tkt-1"' in page.text
    refused = await gw.client.post("/remote-requests/req-1/approve", data={})
    assert refused.status_code == 403 and gw.world.access_requests[0].status == "pending"
    done = await gw.client.post("/remote-requests/req-1/approve", data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303 and gw.world.access_requests[0].status == "approved"
    after = await gw.client.get("/")
    assert 'id="remote-requests-notice"' not in after.text
    auth = {"Authorization": f"Bearer {await gw.api_token()}"}
    listed = await gw.client.get("/api/v1/access-requests", params={"status": "approved"}, headers=auth)
    assert [r["id"] for r in listed.json()["items"]] == ["req-1"]
    twice = await gw.client.post("/api/v1/access-requests/req-1/decline", headers=auth)
    assert twice.status_code == 409


async def test_csrf_guards_the_remote_forms(gw: Gateway) -> None:
    await gw.sign_in()
    for path in ("/assets/ast-1/remote", "/assets/ast-1/scripts/scr-1/run", "/assets/ast-1/remote/rs-1/end"):
        r = await gw.client.post(path, data={"csrf_token": "forged", "ticket": "new"})
        assert r.status_code == 403, path
    assert "OpenRemoteSession" not in gw.world.calls and "StartScriptRun" not in gw.world.calls


async def test_openapi_lists_the_remote_routes(gw: Gateway) -> None:
    spec = (await gw.client.get("/api/v1/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/assets/{asset_id}/scripts", "get"),
        ("/api/v1/assets/{asset_id}/script-runs", "post"),
        ("/api/v1/script-runs/{run_id}", "get"),
        ("/api/v1/script-runs/{run_id}/events", "get"),
        ("/api/v1/assets/{asset_id}/remote-sessions", "post"),
        ("/api/v1/access-requests", "get"),
        ("/api/v1/access-requests/{request_id}/approve", "post"),
        ("/api/v1/access-requests/{request_id}/decline", "post"),
        ("/api/v1/staff/assets/{asset_id}/enrolment-tokens", "post"),
        ("/api/v1/staff/agents", "get"),
        ("/api/v1/staff/agents/{agent_id}/revoke", "post"),
        ("/api/v1/staff/scripts", "post"),
        ("/api/v1/staff/scripts/{script_id}", "put"),
        ("/api/v1/staff/scripts/{script_id}", "delete"),
        ("/api/v1/staff/assets/{asset_id}/script-runs", "post"),
        ("/api/v1/staff/script-runs/{run_id}", "get"),
        ("/api/v1/staff/assets/{asset_id}/access-requests", "post"),
        ("/api/v1/staff/access-requests", "get"),
        ("/api/v1/staff/assets/{asset_id}/remote-sessions", "post"),
        ("/api/v1/staff/remote-sessions", "get"),
    ]:
        assert method in paths.get(path, {}), (method, path)
    run = paths["/api/v1/assets/{asset_id}/script-runs"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in run["parameters"]) and "409" in run["responses"]
    assert "text/event-stream" in paths["/api/v1/script-runs/{run_id}/events"]["get"]["responses"]["200"]["content"]


# --- the terminal WebSocket, driven at the ASGI level (the test client speaks no WebSocket) ---------------------


async def ws_call(
    gw: Gateway,
    path: str,
    *,
    origin: str | None,
    cookie: str,
    frames: list[dict] | None = None,
    expect: tuple[bytes, ...] = (),
):
    """Run one WebSocket connection against the app: after the device's "ready", send `frames`, and leave once the
    output holds every `expect`. The messages the app sent."""
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "http_version": "1.1",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("203.0.113.7", 50000),
        "server": ("testserver", 443),
        "subprotocols": [],
        "state": {},
        "app": gw.app,
    }
    inbox: asyncio.Queue = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    sent: list[dict] = []
    output = bytearray()

    async def receive() -> dict:
        return await inbox.get()

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] != "websocket.send" or not message.get("bytes"):
            return
        output.extend(message["bytes"])
        if message["bytes"] == b"ready\r\n":
            for frame in frames or []:
                await inbox.put(frame)
        if all(e in output for e in expect):
            await inbox.put({"type": "websocket.disconnect", "code": 1000})

    await asyncio.wait_for(gw.app(scope, receive, send), timeout=10)
    return sent


def portal_cookie(gw: Gateway) -> str:
    return f"portal_session={gw.client.cookies['portal_session']}"


async def test_terminal_socket_refuses_a_foreign_origin_and_no_session(gw: Gateway) -> None:
    await gw.sign_in()
    path = "/assets/ast-1/remote/rs-1/ws"
    for origin in ("https://evil.example", "null", None):
        sent = await ws_call(gw, path, origin=origin, cookie=portal_cookie(gw))
        assert sent[0]["type"] == "websocket.close" and sent[0]["code"] == 4403, origin
    nobody = await ws_call(gw, path, origin="https://testserver", cookie="")
    assert nobody[0]["type"] == "websocket.close" and nobody[0]["code"] == 4401
    assert "Terminal" not in gw.world.calls


async def test_terminal_socket_relays_both_ways(gw: Gateway) -> None:
    await gw.sign_in()
    opened = await gw.client.post(
        "/assets/ast-1/remote", data={"csrf_token": csrf_from((await gw.client.get("/")).text)}
    )
    assert opened.status_code == 303 and opened.headers["location"] == "/assets/ast-1/remote/rs-1"
    page = await gw.client.get(opened.headers["location"])
    assert page.status_code == 200 and 'data-ws="/assets/ast-1/remote/rs-1/ws"' in page.text
    assert "/static/vendor/xterm/xterm.js" in page.text and 'id="end-session"' in page.text
    frames = [
        {"type": "websocket.receive", "bytes": b"ls\r"},
        {"type": "websocket.receive", "text": json.dumps({"type": "resize", "cols": 100, "rows": 30})},
        {"type": "websocket.receive", "text": "not json"},
    ]
    sent = await ws_call(
        gw,
        "/assets/ast-1/remote/rs-1/ws",
        origin="https://testserver",
        cookie=portal_cookie(gw),
        frames=frames,
        expect=(b"LS\r", b"100x30"),
    )
    assert sent[0]["type"] == "websocket.accept"
    out = b"".join(m.get("bytes") or b"" for m in sent if m["type"] == "websocket.send")
    assert out == b"ready\r\nLS\r100x30"  # the bad text frame was dropped
    # Someone else's session: the relay says why and closes with the service's refusal.
    refused = await ws_call(gw, "/assets/ast-1/remote/rs-9/ws", origin="https://testserver", cookie=portal_cookie(gw))
    assert json.loads(refused[-2]["text"]) == {"type": "closed", "reason": "not your session"}
    assert refused[-1]["type"] == "websocket.close" and refused[-1]["code"] == 4403


# --- staff ------------------------------------------------------------------------------------------------------


async def staff_sign_in(gw: Gateway) -> None:
    page = await gw.client.get("/staff/signin")
    r = await gw.client.post(
        "/staff/signin",
        data={"login": "tech@northwind.test", "password": "correct horse", "csrf_token": csrf_from(page.text)},
    )
    assert r.status_code == 303, r.text


async def staff_api_token(gw: Gateway) -> str:
    r = await gw.client.post(
        "/api/v1/staff/sessions", json={"login": "tech@northwind.test", "password": "correct horse"}
    )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


async def test_staff_pages_are_for_staff_only(gw: Gateway) -> None:
    await gw.sign_in()
    for path in ("/staff/scripts", "/staff/scripts/new", "/staff/assets/ast-1"):
        r = await gw.client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/signin"), path


async def test_staff_asset_page_has_the_agent_and_remote_section(gw: Gateway) -> None:
    await staff_sign_in(gw)
    page = await gw.client.get("/staff/assets/ast-1")
    assert page.status_code == 200, page.text
    assert 'id="agent-agt-1"' in page.text and 'id="enrolment-form"' in page.text
    assert 'id="run-script-form"' in page.text and 'id="access-request-form"' in page.text
    assert 'href="/staff/scripts"' in page.text
    made = await gw.client.get("/staff/scripts/new")
    assert made.status_code == 200 and made.text.count('name="var_name_') >= 5


async def test_staff_script_form_enrolment_token_and_csrf(gw: Gateway) -> None:
    await staff_sign_in(gw)
    form_page = await gw.client.get("/staff/scripts/new")
    token = csrf_from(form_page.text)
    data = {
        "csrf_token": token,
        "name": "Restart spooler",
        "language": "shell",
        "body": 'systemctl restart "$SERVICE"',
        "timeout_seconds": "60",
        "var_name_0": "SERVICE",
        "var_label_0": "Service",
        "var_default_0": "cups",
        "var_required_0": "1",
        "var_name_3": "COUNT",
    }
    forged = await gw.client.post("/staff/scripts/new", data={**data, "csrf_token": "forged"})
    assert forged.status_code == 403 and "CreateScript" not in gw.world.calls
    made = await gw.client.post("/staff/scripts/new", data=data)
    assert made.status_code == 303 and made.headers["location"] == "/staff/scripts?done=created"
    script = gw.world.scripts[-1]
    assert [(v.name, v.default_value, v.required) for v in script.variables] == [
        ("SERVICE", "cups", True),
        ("COUNT", "", False),
    ]
    assert script.body == 'systemctl restart "$SERVICE"' and not script.portal
    listed = await gw.client.get(made.headers["location"])
    assert f'data-script-id="{script.id}"' in listed.text and "Script created." in listed.text
    edit = await gw.client.get(f"/staff/scripts/{script.id}")
    assert 'value="SERVICE"' in edit.text and edit.text.count('name="var_name_') == 2 + 5
    empty = await gw.client.post("/staff/scripts/new", data={**data, "body": "  "})
    assert empty.status_code == 400 and "needs a name and a body" in empty.text
    enrol = await gw.client.post(
        "/staff/assets/ast-1/enrolment-token", data={"csrf_token": token, "valid_minutes": "30"}
    )
    assert enrol.status_code == 200
    assert "portal-agent enrol --server localhost:50065 --token enrol-ast-1-30" in enrol.text
    api = await gw.client.post(
        "/api/v1/staff/assets/ast-1/enrolment-tokens",
        json={"valid_minutes": 15},
        headers={"Authorization": f"Bearer {await staff_api_token(gw)}"},
    )
    assert api.status_code == 201
    assert api.json()["command"] == "portal-agent enrol --server localhost:50065 --token enrol-ast-1-15"


def test_a_run_shows_the_scripts_exit_code_only_when_the_script_ended_by_itself() -> None:
    """The service sends 0 for a run that never ended on the device (agent lost, device offline): no exit code then."""
    from gateway.clients.schemas import ScriptRun
    from gateway.web.i18n import load_translators
    from gateway.web.views.remote import run_row

    def run(status: str, exit_code: int, error: str = "") -> ScriptRun:
        return ScriptRun(
            id="r",
            customer_id="c",
            asset_id="a",
            script_name="s",
            status=status,
            exit_code=exit_code,
            started_at=None,
            finished_at=None,
            error=error,
        )

    t = load_translators()["en"]
    assert run_row(t, run("succeeded", 0)).exit_code == "0"
    assert run_row(t, run("failed", 3)).exit_code == "3"
    assert run_row(t, run("failed", 0, "agent disconnected")).exit_code == ""
    assert run_row(t, run("running", 0)).exit_code == ""
