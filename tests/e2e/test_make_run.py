"""Issue 2: `make run`'s runner serves the portal within 60 s with the printed demo login working, stops
cleanly on Ctrl-C, keeps its data for the next run, and names a busy port clearly."""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from portal_local.ports import distinct_free_ports
from portal_local.stack import PORT_SLOTS


class Runner:
    """`python -m portal_local run` as a child process whose output is read in a thread."""

    def __init__(self, var: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal_local", "run", "--var", str(var)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read_until(self, marker: str, limit: float) -> str:
        out: list[str] = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            out.append(line)
            if marker in line:
                return "".join(out)
        raise AssertionError(f"no {marker!r} within {limit}s; output:\n{''.join(out)}")

    def interrupt(self) -> str:
        """Ctrl-C; returns the rest of the output and checks no child outlives the runner."""
        children = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        rest = []
        while (line := self._lines.get(timeout=10)) is not None:
            rest.append(line)
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"left running after Ctrl-C: {[p.pid for p in alive]}"
        return "".join(rest)


@pytest.fixture
def ports_env() -> dict[str, str]:
    ports = distinct_free_ports(len(PORT_SLOTS))
    return {slot.env_var: str(port) for slot, port in zip(PORT_SLOTS, ports, strict=True)}


def test_run_serves_within_60s_with_the_printed_login_and_keeps_data(tmp_path, ports_env):
    var = tmp_path / "var"
    started = time.monotonic()
    runner = Runner(var, ports_env)
    try:
        banner = runner.read_until("press Ctrl-C to stop", limit=60)
        assert time.monotonic() - started < 60
        url = re.search(r"Customer portal\s+(\S+)", banner).group(1)
        login, password = re.search(r"portal\s+(\S+) / (\S+)", banner).groups()
        with httpx.Client(base_url=url, timeout=10) as c:
            r = c.post("/api/v1/sessions", json={"login": login, "password": password})
            assert r.status_code == 201, r.text
            token = r.json()["session_token"]
            tickets = c.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).json()["items"]
            assert tickets, "the demo customer has demo tickets"
            # Files go to the runner's own S3 server (weed under var/s3).
            assert re.search(r"S3 \(files\)\s+http://127\.0\.0\.1:\d+\s+bucket portal", banner), banner
            r = c.post(
                f"/api/v1/tickets/{tickets[0]['id']}/attachments",
                files={"file": ("kept.txt", b"kept across runs", "text/plain")},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            kept = r.json()["id"]
            # The demo content: documents and shared credentials (names only; the password needs Reveal).
            docs = c.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"})
            assert docs.status_code == 200, docs.text
            assert {"Network diagram notes.txt", "Backup policy.txt"} <= {d["filename"] for d in docs.json()["items"]}
            creds = c.get("/api/v1/credentials", headers={"Authorization": f"Bearer {token}"})
            assert creds.status_code == 200, creds.text
            assert {"Office Wi-Fi", "Practice software admin"} <= {x["name"] for x in creds.json()["items"]}
            assert "demo-wifi-passphrase" not in creds.text
            page = c.get("/signin")
            assert page.status_code == 200 and "<form" in page.text
            # The printed demo technician signs in without MFA and is refused the admin-only staff management.
            tech, tech_password = re.search(r"staff\s+(\S+) / (\S+)\s+\(staff console, technician\)", banner).groups()
            r = c.post("/api/v1/staff/sessions", json={"login": tech, "password": tech_password})
            assert r.status_code == 201 and r.json()["next_step"] == "done", r.text
            bearer = {"Authorization": f"Bearer {r.json()['session_token']}"}
            assert c.get("/api/v1/staff/tickets", headers=bearer).status_code == 200
            assert c.get("/api/v1/staff/staff-users", headers=bearer).status_code == 403
    finally:
        tail = runner.interrupt()
    assert "stopped" in tail

    runner = Runner(var, ports_env)
    try:
        banner = runner.read_until("press Ctrl-C to stop", limit=60)
        assert "(just created)" not in banner, "a second run keeps the data instead of seeding again"
        with httpx.Client(base_url=url, timeout=10) as c:
            token = c.post("/api/v1/sessions", json={"login": login, "password": password}).json()["session_token"]
            again = c.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).json()["items"]
            # A second run keeps the demo content and adds no second copy of it.
            names = [
                d["filename"]
                for d in c.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"}).json()["items"]
            ]
            assert names.count("Backup policy.txt") == 1
            file = c.get(f"/api/v1/ticket-files/{kept}", headers={"Authorization": f"Bearer {token}"})
            assert file.status_code == 200 and file.content == b"kept across runs"
        assert {t["id"] for t in again} == {t["id"] for t in tickets}
        assert (var / "s3").is_dir()
    finally:
        runner.interrupt()


def test_busy_port_is_named_before_anything_starts(tmp_path, ports_env):
    busy = socket.socket()
    busy.bind(("127.0.0.1", int(ports_env["GATEWAY_HTTP_PORT"])))
    busy.listen()
    try:
        runner = Runner(tmp_path / "var", ports_env)
        runner.proc.wait(timeout=60)
        out = runner.read_until("in use", limit=10)
    finally:
        busy.close()
    assert runner.proc.returncode != 0
    assert ports_env["GATEWAY_HTTP_PORT"] in out and "GATEWAY_HTTP_PORT" in out, out
    assert "Traceback" not in out
