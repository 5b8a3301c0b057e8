"""Issue 17: the runner `make run` uses supervises its processes. kill -9 of each service in turn (and of the
gateway) is restarted by it, the restart shows in its output, and meanwhile the portal home keeps rendering
every other section; /readyz stays 200 while a backend other than identity is down. The same stack, started
with GATEWAY_TRUSTED_PROXIES=127.0.0.2, then checks the trusted-proxy rule against identity's real sign-in
limit both ways.

Its own runner (it kills processes), on free ports: about 60-80 s on two busy cores.
"""

from __future__ import annotations

import queue
import re
import signal
import time

import httpx
import psutil
import pytest

from portal_local.ports import free_port
from portal_local.stack import PORT_SLOTS
from tests.e2e.test_make_run import Runner

pytestmark = pytest.mark.timeout(240)

SECTION = re.compile(r'<section[^>]*aria-labelledby="([a-z-]+)"(.*?)</section>', re.S)
# The home's sections each backend feeds; when it is down exactly these say "temporarily unavailable".
SECTIONS_OF = {
    "tickets": {"tickets-heading", "recent-tickets-heading", "recent-faq-heading"},
    "billing": {"overview-heading", "open-heading", "payments-heading", "estimates-heading"},
    "assets": {"assets-heading", "attachments-heading", "credentials-heading", "recent-documents-heading"},
    "remote": {"runs-heading"},
}
TRUSTED_PROXY = "127.0.0.2"  # the gateway listens on 127.0.0.1; Linux answers from all of 127/8


@pytest.fixture
def ports_env() -> dict[str, str]:
    return {slot.env_var: str(free_port()) for slot in PORT_SLOTS}


def _pid_of(runner: Runner, name: str) -> int:
    for child in psutil.Process(runner.proc.pid).children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.Error:
            continue
        if cmd[-2:] == ["-m", name]:
            return child.pid
    raise AssertionError(f"no {name} process under the runner")


def _restarted(runner: Runner, name: str, old_pid: int, limit: float = 20.0) -> bool:
    """A new process of `name` under the runner within `limit` s: the one "restarted" named may itself exit at once
    (a port not yet released) and be started again after the supervisor's backoff."""
    deadline = time.monotonic() + limit
    while True:
        try:
            if _pid_of(runner, name) != old_pid:
                return True
        except AssertionError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


class Output:
    """Everything the runner printed so far; `wait_for` searches all of it, not only what follows."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.text = ""

    def wait_for(self, marker: str, limit: float) -> str:
        deadline = time.monotonic() + limit
        while marker not in self.text:
            try:
                line = self.runner._lines.get(timeout=0.2)
            except queue.Empty:
                line = ""
            if line is None:
                raise AssertionError(f"the runner ended before {marker!r}:\n{self.text}")
            self.text += line
            if marker not in self.text and time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} within {limit}s; output:\n{self.text}")
        return self.text


def _sections(client: httpx.Client) -> dict[str, bool]:
    """The home's sections by heading id → available."""
    r = client.get("/")
    assert r.status_code == 200, (r.status_code, r.text[:500])
    found = {m.group(1): "notice unavailable" not in m.group(2) for m in SECTION.finditer(r.text)}
    assert found, r.text[:500]
    return found


def _wait_all_available(client: httpx.Client, limit: float = 30.0) -> dict[str, bool]:
    deadline = time.monotonic() + limit
    while True:
        try:
            sections = _sections(client)
            if all(sections.values()):
                return sections
        except (AssertionError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"sections still unavailable: {sections}")
        time.sleep(0.3)


def _sign_in(client: httpx.Client, login: str, password: str, forwarded_for: str) -> int:
    r = client.post(
        "/api/v1/sessions", json={"login": login, "password": password}, headers={"X-Forwarded-For": forwarded_for}
    )
    return r.status_code


def test_kill_9_of_each_process_is_restarted_while_the_rest_keep_serving(tmp_path, ports_env):
    env = {
        **ports_env,
        "GATEWAY_TRUSTED_PROXIES": TRUSTED_PROXY,
        "GATEWAY_READINESS_CACHE_SECONDS": "0",  # /readyz answers from a fresh check
        # A killed backend's sections say so at once: the read cache would serve their last answer meanwhile.
        "GATEWAY_READ_CACHE_ENTRIES": "0",
    }
    runner = Runner(tmp_path / "var", env)
    output = Output(runner)
    try:
        banner = output.wait_for("press Ctrl-C to stop", limit=90)
        url = re.search(r"Customer portal\s+(\S+)", banner).group(1).rstrip("/")
        with httpx.Client(base_url=url, timeout=10) as api:
            r = api.post("/api/v1/sessions", json={"login": "alice@acme.test", "password": "demo-acme-123"})
            assert r.status_code == 201, r.text
            token = r.json()["session_token"]
        with httpx.Client(base_url=url, timeout=10, cookies={"portal_session": token}) as home:
            everything = _wait_all_available(home)
            # Billing's sections when it is up (overview, open invoices, payments, …); one card when it is down.
            expected = {"tickets-heading", "overview-heading", "assets-heading", "attachments-heading", "runs-heading"}
            assert expected <= set(everything), everything

            # The four section backends one after the other, each killed as soon as the previous one has been
            # started again (not waiting for it to be ready: that alone took 5-20 s each on two busy cores).
            killed: list[str] = []
            for name in SECTIONS_OF:
                pid = _pid_of(runner, name)
                psutil.Process(pid).send_signal(signal.SIGKILL)
                killed.append(name)
                # At once, before the supervisor's 0.5 s: its sections degrade; every section of a backend not
                # killed renders (those killed before may still be starting).
                sections = _sections(home)
                down = {s for s, ok in sections.items() if not ok}
                assert SECTIONS_OF[name] <= down <= set().union(*(SECTIONS_OF[k] for k in killed)), (name, sections)
                ready = home.get("/readyz")
                assert ready.status_code == 200 and name in ready.json()["degraded"], ready.text
                output.wait_for(f"restarted {name} (pid", limit=20)
                assert _restarted(runner, name, pid), f"{name} was not started again"
            for name in killed:
                output.wait_for(f"{name} is ready again", limit=90)
            _wait_all_available(home)

            # Identity (every page needs it: /readyz says not ready meanwhile) and the gateway itself.
            for name in ("identity", "gateway"):
                pid = _pid_of(runner, name)
                psutil.Process(pid).send_signal(signal.SIGKILL)
                if name == "identity":
                    assert home.get("/readyz").status_code == 503
                output.wait_for(f"restarted {name} (pid", limit=20)
                assert _restarted(runner, name, pid), f"{name} was not started again"
            for name in ("identity", "gateway"):
                output.wait_for(f"{name} is ready again", limit=90)
            _wait_all_available(home)
            for name in (*SECTIONS_OF, "identity", "gateway"):
                assert f"{name} exited (signal SIGKILL)" in output.text, output.text
                assert re.search(rf"restarted {name} \(pid \d+, attempt 1\)", output.text), output.text

        # Trusted proxies against identity's real per-address limit (5 failures per login and address).
        with httpx.Client(base_url=url, timeout=30) as direct:
            # An untrusted peer (127.0.0.1) rotating X-Forwarded-For: every guess counts against the peer.
            for i in range(5):
                assert _sign_in(direct, "bob@blueharbor.test", "wrong", f"198.51.100.{10 + i}") == 401
            assert _sign_in(direct, "bob@blueharbor.test", "demo-blue-123", "198.51.100.99") == 429
        transport = httpx.HTTPTransport(local_address=TRUSTED_PROXY)
        with httpx.Client(base_url=url, timeout=30, transport=transport) as proxy:
            # Behind the trusted proxy, two clients are limited separately: A is locked out, B signs in.
            for _ in range(5):
                assert _sign_in(proxy, "bob@blueharbor.test", "wrong", "6.6.6.6, 198.51.100.1") == 401
            assert _sign_in(proxy, "bob@blueharbor.test", "demo-blue-123", "198.51.100.1") == 429
            assert _sign_in(proxy, "bob@blueharbor.test", "demo-blue-123", "198.51.100.2") == 201
    finally:
        tail = runner.interrupt()
    assert "stopped" in tail
    logs = tmp_path / "var" / "logs"
    for svc in ("identity", "tickets", "billing", "assets", "remote"):
        text = (logs / f"{svc}.log").read_text()
        assert "restart 1 after signal SIGKILL" in text, svc
        assert "fetch failed" not in text, f"{svc} logged a fetch failure while idle"
