"""Issue 2: `make run`'s runner serves the portal within 60 s with the printed demo login working, stops
cleanly on Ctrl-C, keeps its data for the next run, and names a busy port clearly."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from portal_local.ports import free_port
from portal_local.stack import PORT_SLOTS


def _start(var: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "portal_local", "run", "--var", str(var)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(proc: subprocess.Popen, marker: str, limit: float) -> str:
    out = []
    deadline = time.monotonic() + limit
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            out.append(chunk)
            if marker in "".join(out):
                return "".join(out)
        elif proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {marker!r} within {limit}s; output:\n{''.join(out)}")


def _stop(proc: subprocess.Popen) -> str:
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    rest = proc.stdout.read() or ""
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"left running after Ctrl-C: {[p.pid for p in alive]}"
    return rest


@pytest.fixture
def ports_env() -> dict[str, str]:
    return {slot.env_var: str(free_port()) for slot in PORT_SLOTS}


def test_run_serves_within_60s_with_the_printed_login_and_keeps_data(tmp_path, ports_env):
    var = tmp_path / "var"
    started = time.monotonic()
    proc = _start(var, ports_env)
    try:
        banner = _read_until(proc, "press Ctrl-C to stop", limit=60)
        assert time.monotonic() - started < 60
        url = re.search(r"Customer portal\s+(\S+)", banner).group(1)
        login, password = re.search(r"portal\s+(\S+) / (\S+)", banner).groups()
        with httpx.Client(base_url=url, timeout=10) as c:
            r = c.post("/api/v1/sessions", json={"login": login, "password": password})
            assert r.status_code == 201, r.text
            token = r.json()["session_token"]
            tickets = c.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).json()["items"]
            assert tickets, "the demo customer has demo tickets"
            page = c.get("/signin")
            assert page.status_code == 200 and "<form" in page.text
    finally:
        tail = _stop(proc)
    assert "stopped" in tail

    proc = _start(var, ports_env)
    try:
        banner = _read_until(proc, "press Ctrl-C to stop", limit=60)
        assert "(just created)" not in banner, "a second run keeps the data instead of seeding again"
        with httpx.Client(base_url=url, timeout=10) as c:
            token = c.post("/api/v1/sessions", json={"login": login, "password": password}).json()["session_token"]
            again = c.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert {t["id"] for t in again} == {t["id"] for t in tickets}
    finally:
        _stop(proc)


def test_busy_port_is_named_before_anything_starts(tmp_path, ports_env):
    busy = socket.socket()
    busy.bind(("127.0.0.1", int(ports_env["GATEWAY_HTTP_PORT"])))
    busy.listen()
    try:
        proc = _start(tmp_path / "var", ports_env)
        out, _ = proc.communicate(timeout=60)
    finally:
        busy.close()
    assert proc.returncode != 0
    assert ports_env["GATEWAY_HTTP_PORT"] in out and "GATEWAY_HTTP_PORT" in out, out
    assert "Traceback" not in out
