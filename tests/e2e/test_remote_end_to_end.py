"""Issue 14 end to end with real processes (SPEC R1-R3, X1, X2): the session's stack runs remote as two replicas,
and the agent of these tests is a real `portal-agent` enrolled with the SECOND replica while the gateway talks to the
first, so every run, terminal and revocation below crosses replicas through NATS.

- staff enrol an agent for a fresh customer's asset (token → `portal-agent enrol` → online); the token works once;
- the customer runs a portal script from the asset page in Chromium and sees its output appear line by line, then
  the exit code; the run is recorded on a new ticket; staff run a script with a variable (an environment variable,
  never shell text);
- the customer opens a remote session, types `echo $((6*7))` in xterm.js and sees 42; the session ends at its 15-s
  limit; the audit record has the bytes both ways;
- X1: a staff session without an approved request is refused; after the customer approves it works (the window's
  end is tested in services/remote/tests/test_sessions.py, with the service's clock);
- refusals: the customer cannot run a script with variables, a script not marked for the portal, or anything on
  another customer's asset, over HTTP and directly over gRPC with its own principal token;
- a flood of output is cut at the bound and the service keeps answering; the agent killed mid-run leaves the run
  failed, not hanging; a revoked agent cannot reconnect (`portal-agent run` exits 3).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from portal.remote.v1 import remote_pb2, remote_pb2_grpc
from portal_local.stack import Stack, portal_agent_executable
from tests.e2e.billing_world import new_customer
from tests.e2e.billing_world import staff_token as staff_principal_token
from tests.e2e.helpers import ACME, api, api_sign_in, principal_token, sign_in

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks
AGENT_REPLICA = 1  # the gateway talks to replica 0


@dataclass
class World:
    stack: Stack
    staff: str  # staff API bearer token
    customer_id: str
    login: str
    password: str
    asset_id: str
    agent_name: str
    agent_state: Path
    token: str  # the (spent) enrolment token
    lines_script: str  # portal, no variables: three lines a second apart
    variable_script: str  # staff only, GREETING
    staff_only_script: str  # not for the portal, no variables
    portal_with_variable: str  # marked for the portal but takes a variable: still not the customer's
    other_asset: str  # an asset of ACME, another customer

    def staff_api(self) -> httpx.Client:
        return api(self.stack, self.staff)

    def customer_api(self) -> httpx.Client:
        return api(self.stack, api_sign_in(self.stack, self.login, self.password))


def wait_for(check: Callable[[], object], what: str, limit: float = 30.0, pause: float = 0.3) -> object:
    deadline = time.monotonic() + limit
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)


def _staff_api_token(stack: Stack) -> str:
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return r.json()["session_token"]


def _enable_remote_access(c: httpx.Client, customer_id: str) -> None:
    """PUT replaces the customer: send it back as read with only the setting changed (SPEC C3)."""
    record = c.get(f"/api/v1/staff/customers/{customer_id}").json()
    body = {
        k: record[k]
        for k in ("business_name", "first_name", "last_name", "email", "notes", "phones", "addresses", "parent_id")
        if k in record
    }
    body["custom_fields"] = [{"field_id": a["field_id"], "value": a["value"]} for a in record.get("custom_fields", [])]
    body["settings"] = {**record["settings"], "remote_access_enabled": True}
    r = c.put(f"/api/v1/staff/customers/{customer_id}", json=body)
    assert r.status_code == 200, r.text


def _script(c: httpx.Client, **fields: object) -> str:
    body = {"language": "shell", "timeout_seconds": 30, **fields}
    r = c.post("/api/v1/staff/scripts", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def agent_online(w: World) -> bool:
    with w.staff_api() as c:
        agents = c.get("/api/v1/staff/agents", params={"asset_id": w.asset_id}).json()
    items = agents["items"] if isinstance(agents, dict) else agents
    return any(a["online"] for a in items)


def run_of(w: World, run_id: str) -> dict:
    with w.staff_api() as c:
        r = c.get(f"/api/v1/staff/script-runs/{run_id}")
    assert r.status_code == 200, r.text
    return r.json()


def finished(w: World, run_id: str, limit: float = 40.0) -> dict:
    return wait_for(
        lambda: (run := run_of(w, run_id))["status"] in ("succeeded", "failed", "timed_out") and run,
        f"run {run_id} to finish",
        limit,
    )


@pytest.fixture(scope="module")
def world(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tag = uuid.uuid4().hex[:6]
    staff = _staff_api_token(stack)
    customer = new_customer(stack, staff_principal_token(stack))
    with api(stack, staff) as c:
        _enable_remote_access(c, customer.customer_id)
        r = c.post(f"/api/v1/staff/customers/{customer.customer_id}/assets", json={"name": f"Workstation {tag}"})
        assert r.status_code == 201, r.text
        asset_id = r.json()["id"]
        acme = c.get("/api/v1/staff/customers", params={"q": ACME.email}).json()["items"][0]["id"]
        r = c.post(f"/api/v1/staff/customers/{acme}/assets", json={"name": f"Acme box {tag}"})
        assert r.status_code == 201, r.text
        other_asset = r.json()["id"]
        r = c.post(f"/api/v1/staff/assets/{asset_id}/enrolment-tokens", json={"valid_minutes": 10})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert token in r.json()["command"]
        lines = _script(
            c,
            name=f"Three lines {tag}",
            body="echo line 1\nsleep 1.5\necho line 2\nsleep 1.5\necho line 3\n",
            portal=True,
            portal_name=f"Say three lines {tag}",
            portal_confirmation="This prints three lines, a second and a half apart.",
        )
        variable = _script(
            c,
            name=f"Greet {tag}",
            body='printf "greeting=%s\\n" "$GREETING"\n',
            variables=[{"name": "GREETING", "label": "Greeting", "default_value": "", "required": True}],
        )
        staff_only = _script(c, name=f"Staff only {tag}", body="echo staff\n")
        portal_var = _script(
            c,
            name=f"Portal but variable {tag}",
            body='echo "$X"\n',
            variables=[{"name": "X", "label": "X", "default_value": "1", "required": False}],
        )
    state = tmp_path_factory.mktemp("agent-state")
    name = f"agent-e2e-{tag}"
    stack.start_agent(state, token, replica=AGENT_REPLICA, name=name)
    w = World(
        stack,
        staff,
        customer.customer_id,
        customer.login,
        customer.password,
        asset_id,
        name,
        state,
        token,
        lines,
        variable,
        staff_only,
        portal_var,
        other_asset,
    )
    wait_for(lambda: agent_online(w), "the enrolled agent to be online")
    yield w
    if name in stack.processes:
        stack.stop_process(name, timeout=10)


def test_the_agent_is_online_through_the_other_replica_and_its_token_works_once(world: World, tmp_path: Path) -> None:
    # Enrolled with, and connected to, the second replica: its log says so, the first replica's does not.
    with world.staff_api() as c:
        [agent] = c.get("/api/v1/staff/agents", params={"asset_id": world.asset_id}).json()
    assert agent["online"] and agent["customer_id"] == world.customer_id
    logs = [world.stack.log_path(name).read_text(errors="replace") for name in world.stack.remote_names]
    assert [f"agent {agent['id']} connected" in log for log in logs] == [False, True]
    again = subprocess.run(  # noqa: S603 - our own console script, arguments as a list
        [
            portal_agent_executable(),
            "enrol",
            "--server",
            world.stack.agent_addresses[AGENT_REPLICA],
            "--token",
            world.token,
            "--state-dir",
            str(tmp_path / "second"),
            "--insecure",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2, again.stderr
    assert world.token not in again.stderr + again.stdout


async def test_the_customer_runs_a_portal_script_and_watches_it_line_by_line(world: World, browser) -> None:  # noqa: ANN001
    base = world.stack.gateway_url
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    try:
        await sign_in(page, base, "/signin", world.login, world.password)
        await page.wait_for_url(base + "/")
        await page.goto(base + f"/assets/{world.asset_id}")
        # The portal script without variables is offered; the staff's, and the portal one with a variable, are not
        # (portal scripts are on every customer's portal, so other tests' may be listed too).
        offered = await page.locator("#scripts li").evaluate_all("els => els.map(e => e.dataset.scriptId)")
        assert world.lines_script in offered
        assert not {world.variable_script, world.staff_only_script, world.portal_with_variable} & set(offered)
        await page.locator(f'li[data-script-id="{world.lines_script}"] a').click()
        await page.wait_for_url("**/run")
        assert "a second and a half apart" in await page.locator("#confirmation").inner_text()
        await page.locator("#ticket").select_option("new")
        await page.locator("#run-button").click()
        await page.wait_for_url("**/script-runs/*")
        run_id = page.url.rstrip("/").split("/")[-1]
        output = page.locator("#run-output")
        # Line by line: the first line is on the page while the run is still going and the last is not yet.
        await page.wait_for_function(
            "() => document.querySelector('#run-output').textContent.includes('line 1')", timeout=30_000
        )
        first_seen = await output.text_content()
        assert "line 3" not in first_seen, first_seen
        assert await page.locator("#run-status").get_attribute("data-status") in ("queued", "running")
        await page.wait_for_function(
            "() => document.querySelector('#run-status').dataset.status === 'succeeded'", timeout=30_000
        )
        text = await output.text_content()
        assert text.index("line 1") < text.index("line 2") < text.index("line 3"), text
        assert (await page.locator("#run-exit-code").inner_text()).strip() == "0"
        ticket_href = await page.locator("#run-ticket").get_attribute("href")
        await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
        for width in (390, 1280):
            await page.set_viewport_size({"width": width, "height": 900})
            await page.screenshot(path=str(SHOTS / f"remote-run-{width}.png"), full_page=True)
    finally:
        await ctx.close()

    # The run is recorded on the new ticket, by tickets' consumer of remote's script_run_finished.
    ticket_id = ticket_href.rstrip("/").split("/")[-1]

    def recorded() -> bool:
        with world.customer_api() as c:
            r = c.get(f"/api/v1/tickets/{ticket_id}/comments", params={"page_size": 50})
        return r.status_code == 200 and any(
            "line 3" in c["body"] and "three lines" in c["body"].lower() for c in r.json()["items"]
        )

    await asyncio.to_thread(wait_for, recorded, "the run's comment on its ticket")
    run = await asyncio.to_thread(run_of, world, run_id)
    assert run["ticket_id"] == ticket_id and run["exit_code"] == 0 and run["finished_at"]


def test_staff_run_a_script_with_a_variable_that_stays_a_value(world: World, tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    greeting = f"hello $(touch {marker}) `touch {marker}`; touch {marker}"
    with world.staff_api() as c:
        r = c.post(
            f"/api/v1/staff/assets/{world.asset_id}/script-runs",
            json={"script_id": world.variable_script, "variables": {"GREETING": greeting}},
            headers={"Idempotency-Key": f"var-{uuid.uuid4().hex}"},
        )
        assert r.status_code == 201, r.text
        missing = c.post(
            f"/api/v1/staff/assets/{world.asset_id}/script-runs", json={"script_id": world.variable_script}
        )
        assert missing.status_code == 400, missing.text
        assert "GREETING" in missing.json()["detail"]
    run = finished(world, r.json()["id"])
    assert run["status"] == "succeeded", run
    assert f"greeting={greeting}" in run["output"]
    assert not marker.exists()


def test_the_customer_is_refused_what_is_not_theirs_over_http_and_grpc(world: World) -> None:
    key = {"Idempotency-Key": f"refused-{uuid.uuid4().hex}"}
    with world.customer_api() as c:
        for script in (world.variable_script, world.staff_only_script, world.portal_with_variable):
            r = c.post(f"/api/v1/assets/{world.asset_id}/script-runs", json={"script_id": script, "new_ticket": True})
            assert r.status_code in (403, 404), (script, r.status_code, r.text)
        r = c.post(
            f"/api/v1/assets/{world.other_asset}/script-runs",
            json={"script_id": world.lines_script, "new_ticket": True},
            headers=key,
        )
        assert r.status_code == 404, r.text
        assert c.post(f"/api/v1/assets/{world.other_asset}/remote-sessions").status_code == 404
        assert c.get(f"/api/v1/assets/{world.other_asset}/scripts").status_code == 404

    token = principal_token(world.stack, world.login, world.password)
    md = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(world.stack.grpc_addr("remote"), options=[("grpc.enable_http_proxy", 0)]) as ch:
        stub = remote_pb2_grpc.RemoteServiceStub(ch)
        cases = [
            (
                remote_pb2.StartScriptRunRequest(
                    script_id=world.lines_script, asset_id=world.asset_id, variables={"X": "1"}
                ),
                (grpc.StatusCode.INVALID_ARGUMENT,),
            ),
            (
                remote_pb2.StartScriptRunRequest(script_id=world.variable_script, asset_id=world.asset_id),
                (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED),
            ),
            (
                remote_pb2.StartScriptRunRequest(script_id=world.staff_only_script, asset_id=world.asset_id),
                (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED),
            ),
            (
                remote_pb2.StartScriptRunRequest(script_id=world.lines_script, asset_id=world.other_asset),
                (grpc.StatusCode.NOT_FOUND,),
            ),
        ]
        for request, codes in cases:
            with pytest.raises(grpc.RpcError) as refused:
                stub.StartScriptRun(request, timeout=10, metadata=md)
            assert refused.value.code() in codes, (request, refused.value.code(), refused.value.details())
        with pytest.raises(grpc.RpcError) as refused:
            stub.OpenRemoteSession(
                remote_pb2.OpenRemoteSessionRequest(asset_id=world.other_asset), timeout=10, metadata=md
            )
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as refused:
            stub.CreateEnrolmentToken(
                remote_pb2.CreateEnrolmentTokenRequest(asset_id=world.asset_id), timeout=10, metadata=md
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_customer_types_in_a_browser_terminal_until_the_time_limit(world: World, browser) -> None:  # noqa: ANN001
    base = world.stack.gateway_url
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    try:
        await sign_in(page, base, "/signin", world.login, world.password)
        await page.wait_for_url(base + "/")
        await page.goto(base + f"/assets/{world.asset_id}")
        await page.locator('#remote-action[data-remote-action="open"]').click()
        await page.wait_for_url(f"**/assets/{world.asset_id}/remote/*")
        session_id = page.url.rstrip("/").split("/")[-1]
        await page.locator("#terminal .xterm").wait_for(timeout=15_000)
        await page.locator("#terminal").click()
        # Wait for the shell's first output (its prompt) before typing, so no keystroke races the pty's opening.
        await page.wait_for_function(
            "() => document.querySelector('#terminal .xterm-rows').textContent.trim().length > 0", timeout=15_000
        )
        await page.keyboard.type("echo $((6*7))")
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "() => /(^|\\s)42(\\s|$)/.test(document.querySelector('#terminal .xterm-rows').innerText)", timeout=15_000
        )
        # Readable: xterm.js's own <style> (its colours) is allowed by the page's policy, so the text is light on
        # the dark terminal, not the page's dark text colour.
        rgb = await page.locator("#terminal .xterm-rows").evaluate("e => getComputedStyle(e).color")
        assert sum(int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]) > 450, rgb
        await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "remote-terminal-1280.png"), full_page=True)
        # The session's limit is 15 s in the test stack: it ends by itself, and the page says so.
        await page.locator("#session-ended").wait_for(state="visible", timeout=40_000)
    finally:
        await ctx.close()

    def audited() -> dict | None:
        with world.staff_api() as c:
            items = c.get("/api/v1/staff/remote-sessions", params={"customer_id": world.customer_id}).json()["items"]
        return next((s for s in items if s["id"] == session_id and s["ended_at"]), None)

    record = await asyncio.to_thread(wait_for, audited, "the session's audit record")
    assert record["end_reason"] == "limit", record
    assert record["bytes_to_device"] >= len("echo $((6*7))\r") and record["bytes_from_device"] > 2
    assert record["opened_by_kind"] == "portal"


def test_a_staff_session_needs_the_customers_approval(world: World) -> None:
    with world.customer_api() as c:
        r = c.post("/api/v1/tickets", json={"subject": "Printer offline", "description": "Please have a look."})
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
    with world.staff_api() as s:
        r = s.post(f"/api/v1/staff/assets/{world.asset_id}/remote-sessions", json={"access_request_id": "nope"})
        assert r.status_code in (403, 404), r.text
        r = s.post(
            f"/api/v1/staff/assets/{world.asset_id}/access-requests",
            json={"ticket_id": ticket_id, "window_minutes": 5, "reason": "Check the print spooler"},
            headers={"Idempotency-Key": f"ask-{uuid.uuid4().hex}"},
        )
        assert r.status_code == 201, r.text
        request_id = r.json()["id"]
        pending = s.post(
            f"/api/v1/staff/assets/{world.asset_id}/remote-sessions", json={"access_request_id": request_id}
        )
        assert pending.status_code == 403, pending.text
    with world.customer_api() as c:
        listed = c.get("/api/v1/access-requests").json()["items"]
        assert [x["status"] for x in listed if x["id"] == request_id] == ["pending"]
        r = c.post(f"/api/v1/access-requests/{request_id}/approve")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["window_ends_at"]
    with world.staff_api() as s:
        r = s.post(f"/api/v1/staff/assets/{world.asset_id}/remote-sessions", json={"access_request_id": request_id})
        assert r.status_code == 201, r.text
        session = r.json()
        assert session["ticket_id"] == ticket_id and session["opened_by_kind"] == "staff"
        assert s.post(f"/api/v1/staff/remote-sessions/{session['id']}/end").status_code == 200

    def noted() -> bool:
        with world.customer_api() as c:
            items = c.get(f"/api/v1/tickets/{ticket_id}/comments", params={"page_size": 50}).json()["items"]
        bodies = " ".join(x["body"] for x in items)
        return "print spooler" in bodies and "approved" in bodies.lower()

    wait_for(noted, "the request and the approval noted on the ticket")


def test_a_flood_of_output_is_cut_at_the_bound_and_the_service_keeps_answering(world: World) -> None:
    with world.staff_api() as c:
        flood = _script(c, name=f"Flood {uuid.uuid4().hex[:6]}", body="head -c 5000000 /dev/zero | tr '\\0' x\n")
        r = c.post(f"/api/v1/staff/assets/{world.asset_id}/script-runs", json={"script_id": flood})
        assert r.status_code == 201, r.text
    run = finished(world, r.json()["id"])
    assert run["truncated"] is True
    assert 0 < len(run["output"]) <= 65536
    with world.staff_api() as c:
        r = c.post(f"/api/v1/staff/assets/{world.asset_id}/script-runs", json={"script_id": world.staff_only_script})
        assert r.status_code == 201, r.text
    after = finished(world, r.json()["id"])
    assert after["status"] == "succeeded" and "staff" in after["output"]


def test_an_agent_killed_mid_run_leaves_the_run_failed(world: World) -> None:
    with world.staff_api() as c:
        slow = _script(c, name=f"Slow {uuid.uuid4().hex[:6]}", body="echo started\nsleep 60\n", timeout_seconds=120)
        r = c.post(f"/api/v1/staff/assets/{world.asset_id}/script-runs", json={"script_id": slow})
        assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    wait_for(lambda: "started" in run_of(world, run_id)["output"], "the slow run to start")
    world.stack.kill_process(world.agent_name, signal.SIGKILL)
    run = finished(world, run_id, limit=40)
    assert run["status"] == "failed" and run["error"], run
    # Started again with its state (no token), it comes back online for the tests after this one.
    world.stack.start_process(world.agent_name, wait=False)
    wait_for(lambda: agent_online(world), "the agent to come back")


async def test_staff_see_the_agent_and_make_a_token_in_the_console(world: World, browser) -> None:  # noqa: ANN001
    """The staff asset page's "Agent and remote" section and the script catalogue, at phone and desktop widths."""
    base = world.stack.gateway_url
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    try:
        await sign_in(page, base, "/staff/signin", world.stack.config.staff_email, world.stack.config.staff_password)
        await page.wait_for_url(base + "/staff")
        await page.goto(base + f"/staff/assets/{world.asset_id}")
        section = page.locator("#remote-section")
        await section.wait_for()
        assert await page.locator('tr[data-agent-status="online"]').count() == 1
        await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
        for width in (390, 1280):
            await page.set_viewport_size({"width": width, "height": 900})
            await section.screenshot(path=str(SHOTS / f"remote-staff-asset-{width}.png"))
            overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{overflow}px wider than {width}"
        await page.set_viewport_size({"width": 1280, "height": 900})
        await page.locator("#enrolment-form button[type=submit]").click()
        command = await page.locator("#enrol-command").inner_text()
        assert command.startswith("portal-agent enrol --server ") and "--token " in command
        await page.goto(base + "/staff/scripts")
        assert await page.locator(f'a[href*="{world.variable_script}"]').count() >= 1
        for width in (390, 1280):
            await page.set_viewport_size({"width": width, "height": 900})
            await page.screenshot(path=str(SHOTS / f"remote-staff-scripts-{width}.png"), full_page=True)
    finally:
        await ctx.close()


def test_a_revoked_agent_cannot_reconnect(world: World) -> None:
    with world.staff_api() as c:
        agents = c.get("/api/v1/staff/agents", params={"asset_id": world.asset_id}).json()
        items = agents["items"] if isinstance(agents, dict) else agents
        agent_id = next(a["id"] for a in items if not a["revoked_at"])
        r = c.post(f"/api/v1/staff/agents/{agent_id}/revoke")
        assert r.status_code == 200, r.text
    proc = world.stack.process(world.agent_name)
    assert proc.wait(30), "the revoked agent is still running"
    assert proc.returncode == 3
    again = subprocess.run(  # noqa: S603 - our own console script, arguments as a list
        [portal_agent_executable(), "run", "--state-dir", str(world.agent_state)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 3, again.stderr
    assert not agent_online(world)
    with world.customer_api() as c:
        r = c.post(
            f"/api/v1/assets/{world.asset_id}/script-runs",
            json={"script_id": world.lines_script, "new_ticket": True},
        )
    assert r.status_code == 409, r.text
