"""A real Prometheus (Debian's `prometheus` package) for the ops tests: installed by
scripts/ensure-prometheus.sh when missing, started on a free port with its own storage, queried over its HTTP API."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from portal_local.ports import HOST, free_port
from portal_local.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[2]


def prometheus_binary() -> str:
    """/usr/bin/prometheus, installed (as root) by the project's script when missing.

    In CI a missing Prometheus fails the test with the script's message; elsewhere it skips it.
    """
    found = shutil.which("prometheus")
    if found:
        return found
    script = REPO / "scripts" / "ensure-prometheus.sh"
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=600)
    found = shutil.which("prometheus")
    if found:
        return found
    message = (
        f"Prometheus is missing and {script.relative_to(REPO)} could not install it "
        f"(exit {result.returncode}): {(result.stderr or result.stdout).strip()[-500:]}"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Prometheus:
    """One Prometheus process scraping `targets` (job name -> host:port) every second."""

    def __init__(self, workdir: Path, targets: dict[str, str], *, rules: dict | None = None, host: str = HOST) -> None:
        self.workdir = workdir
        self.host = host
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.targets = targets
        config: dict[str, Any] = {
            # The timeout may not exceed the interval; every target is on this machine.
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items()
            ],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        if rules is not None:
            (workdir / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
            config["rule_files"] = [str(workdir / "rules.yaml")]
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.process = ManagedProcess(
            "prometheus",
            [
                prometheus_binary(),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={host}:{self.port}",
                "--log.level=warn",
            ],
            log_path=workdir / "prometheus.log",
        )
        self.http = httpx.Client(base_url=self.url, timeout=10, trust_env=False)

    def start(self, timeout: float = 30.0) -> Prometheus:
        self.process.start()
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.running:
                raise RuntimeError(f"prometheus exited with code {self.process.returncode}:\n{self.process.log_tail()}")
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready within {timeout:.0f}s:\n{self.process.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.http.close()
        self.process.stop(timeout=10)

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        r = self.http.get(f"/api/v1/{path}", params=params)
        body = r.json()
        if r.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{path} {params}: HTTP {r.status_code}: {body.get('error', r.text[:500])}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector `expr` evaluates to now (raises on a PromQL error)."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return data["result"]

    def wait_for_scrapes(self, jobs: set[str], count: int = 2, timeout: float = 60.0) -> None:
        """Wait until every job is up and has been scraped `count` more times from now on.

        A whole-suite run on a slow machine once saw the gateway's /metrics miss the 1 s scrape timeout for 20 s;
        the wait is longer now, and a failure says how long each missing target takes to answer when asked directly.
        """
        since = time.time()
        deadline = time.monotonic() + timeout
        while True:
            targets = self.api("targets", state="active")["activeTargets"]
            last = {t["labels"]["job"]: (t["health"], t["lastScrape"], t["lastError"]) for t in targets}
            done = {job for job, (health, at, _) in last.items() if health == "up" and _epoch(at) > since + count - 1}
            if jobs <= done:
                return
            if time.monotonic() > deadline:
                asked = self._ask(sorted(jobs - done))
                raise AssertionError(f"targets not scraped in {timeout:.0f}s: {last}; asked directly: {asked}")
            time.sleep(0.25)

    def _ask(self, jobs: list[str]) -> dict[str, str]:
        """How each job's /metrics answers a direct GET: status, size and time, or the error."""
        out = {}
        for job in jobs:
            started = time.monotonic()
            try:
                r = httpx.get(f"http://{self.targets[job]}/metrics", timeout=10, trust_env=False)
                out[job] = f"HTTP {r.status_code}, {len(r.content)} bytes"
            except httpx.HTTPError as err:
                out[job] = f"{type(err).__name__}: {err}"
            out[job] += f" in {time.monotonic() - started:.2f}s"
        return out


def _epoch(rfc3339: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as Prometheus writes it (nanoseconds are truncated)."""
    return datetime.fromisoformat(rfc3339).timestamp()
