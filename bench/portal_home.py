"""Benchmark: the signed-in portal home through the gateway at 64 connections, next to a baseline measured
in the same run — a bare FastAPI route making six concurrent grpc.aio calls to a trivial server.

Prints requests/s, p50 and p99 for both, their ratio, the CPU time each process spent per request (which says
where a page's cost goes, and how that compares with the baseline's), and every process's resident memory after
the load.
Load comes from wrk (Debian's package; scripts/ensure-wrk.sh installs it). Run: `make bench` or
`uv run python bench/portal_home.py [--seconds 10] [--connections 64]`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from portal_local.ports import free_port
from portal_local.seed import DEMO_CUSTOMERS, seed_stack
from portal_local.stack import Stack, StackConfig

HERE = Path(__file__).resolve().parent
MEMORY_LIMIT_MB = 120


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    # CPU milliseconds per request of each process serving the load (user + system, children included).
    cpu_ms: dict[str, float] = field(default_factory=dict)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        proc = psutil.Process(pid)
        out[name] = sum(p.cpu_times().user + p.cpu_times().system for p in (proc, *proc.children(recursive=True)))
    return out


def measured(pids: dict[str, int], run) -> Result:  # noqa: ANN001 - run() -> Result
    """`run()` under CPU accounting: each process's CPU time over the run, per request served."""
    before = cpu_seconds(pids)
    result = run()
    after = cpu_seconds(pids)
    result.cpu_ms = {n: 1000 * (after[n] - before[n]) / max(result.requests, 1) for n in pids}
    return result


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(name: str, url: str, seconds: int, connections: int, headers: dict[str, str]) -> Result:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Result(
        name=name,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        errors=errors,
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
    )


def wait_http(url: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {limit}s")


def measure_baseline(seconds: int, connections: int) -> Result:
    grpc_port, http_port = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, str(HERE / "baseline_app.py"), "server", str(grpc_port)]),
        subprocess.Popen(
            [sys.executable, str(HERE / "baseline_app.py"), "app", str(http_port), f"127.0.0.1:{grpc_port}"]
        ),
    ]
    try:
        url = f"http://127.0.0.1:{http_port}/"
        wait_http(url)
        wrk("warm-up", url, 2, connections, {})
        pids = {"baseline app": procs[1].pid, "baseline gRPC server": procs[0].pid}
        return measured(pids, lambda: wrk("baseline: bare route, 6 grpc.aio calls", url, seconds, connections, {}))
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def measure_portal(stack: Stack, seconds: int, connections: int) -> Result:
    demo = DEMO_CUSTOMERS[0]
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as c:
        token = c.post("/api/v1/sessions", json={"login": demo.login, "password": demo.password}).json()[
            "session_token"
        ]
        home = c.get("/", cookies={"portal_session": token})
        assert home.status_code == 200 and demo.business_name in home.text, "the home page renders signed in"
    headers = {"Cookie": f"portal_session={token}"}
    wrk("warm-up", stack.portal_url, 2, connections, headers)
    pids = {name: proc.pid for name, proc in stack.processes.items() if proc.pid and proc.running}
    return measured(
        pids,
        lambda: wrk("portal home (signed in, 5 services)", stack.portal_url, seconds, connections, headers),
    )


def memory(stack: Stack) -> dict[str, float]:
    return {
        name: psutil.Process(proc.pid).memory_info().rss / 2**20
        for name, proc in stack.processes.items()
        if proc.pid and proc.running
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    subprocess.run(["bash", str(HERE.parent / "scripts" / "ensure-wrk.sh")], check=True)

    baseline = measure_baseline(args.seconds, args.connections)
    with tempfile.TemporaryDirectory() as var:
        with Stack(StackConfig(var_dir=Path(var), free_ports=True)) as stack:
            seed_stack(stack)
            portal = measure_portal(stack, args.seconds, args.connections)
            rss = memory(stack)

    print(f"\n{'':42} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in (baseline, portal):
        print(f"{r.name:42} {r.rps:9.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.errors:7d}")
    print(f"\nratio portal/baseline: {portal.rps / baseline.rps:.2f}x (target >= 1.0x)")
    print("\nCPU ms per request, by process (the machine has 2 cores; wrk's own share is not counted):")
    for r in (baseline, portal):
        busy = {n: ms for n, ms in r.cpu_ms.items() if ms >= 0.05}
        cells = ", ".join(f"{n} {ms:.2f}" for n, ms in sorted(busy.items(), key=lambda kv: -kv[1]))
        print(f"  {r.name:42} total {sum(r.cpu_ms.values()):5.2f}: {cells}")
    print(f"\nresident memory after the load (limit {MEMORY_LIMIT_MB} MB per service):")
    for name, mb in sorted(rss.items()):
        flag = "" if name in ("gateway", "nats", "mailcatcher") or mb < MEMORY_LIMIT_MB else "  OVER"
        print(f"  {name:12} {mb:7.1f} MB{flag}")
    return 0 if portal.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
