"""Benchmark: the signed-in portal home through the gateway at 64 connections, next to a baseline measured
in the same run — a bare FastAPI route making six concurrent grpc.aio calls to a trivial server.

Prints requests/s, p50 and p99 for both, their ratio, the CPU time each process spent per request (which says
where a page's cost goes, and how that compares with the baseline's), and every process's resident memory after
the load.
Load comes from wrk (Debian's package; scripts/ensure-wrk.sh installs it). Run: `make bench` or
`uv run python bench/portal_home.py [--seconds 10] [--connections 64] [--sessions 128] [--compare-session-cache]`.

`--sessions N` spreads the load over N signed-in sessions (two demo customers, round-robin in a wrk script) instead
of one; `--compare-session-cache` measures the home twice in the same run, first with the gateway keeping a
resolved session 5 s (GATEWAY_SESSION_CACHE_SECONDS=5, as before issue 16), then 300 s (the default), and prints
identity's ResolveSession calls per request next to each.
"""

from __future__ import annotations

import argparse
import os
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


# Each request carries the next session's cookie (one list per wrk thread, read from BENCH_COOKIES).
_ROUND_ROBIN = """
local cookies = {}
for line in io.lines(os.getenv("BENCH_COOKIES")) do cookies[#cookies + 1] = line end
local i = math.random(#cookies)
request = function()
  i = i % #cookies + 1
  return wrk.format("GET", nil, {["Cookie"] = "portal_session=" .. cookies[i]})
end
"""


def wrk(
    name: str, url: str, seconds: int, connections: int, headers: dict[str, str], cookies: list[str] | None = None
) -> Result:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    env = None
    if cookies:
        folder = Path(tempfile.mkdtemp(prefix="bench-"))
        (folder / "cookies.txt").write_text("\n".join(cookies) + "\n")
        (folder / "round_robin.lua").write_text(_ROUND_ROBIN)
        args += ["-s", str(folder / "round_robin.lua")]
        env = {**os.environ, "BENCH_COOKIES": str(folder / "cookies.txt")}
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True, env=env).stdout
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


def sign_in_sessions(stack: Stack, count: int) -> list[str]:
    """`count` signed-in sessions, alternating between the first two demo customers; each renders its home."""
    tokens = []
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        for i in range(count):
            demo = DEMO_CUSTOMERS[i % 2 if count > 1 else 0]
            r = c.post("/api/v1/sessions", json={"login": demo.login, "password": demo.password})
            token = r.json()["session_token"]
            home = c.get("/", cookies={"portal_session": token})
            assert home.status_code == 200 and demo.business_name in home.text, "the home page renders signed in"
            tokens.append(token)
    return tokens


def identity_resolves(stack: Stack) -> float:
    text = httpx.get(stack.metrics_url("identity"), timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("portal_identity_grpc_requests_total{") and "ResolveSession" in line
    )


def measure_portal(
    stack: Stack, seconds: int, connections: int, tokens: list[str], label: str = ""
) -> tuple[Result, float]:
    """The home under load; also identity's ResolveSession calls per request served."""
    headers = {} if len(tokens) > 1 else {"Cookie": f"portal_session={tokens[0]}"}
    cookies = tokens if len(tokens) > 1 else None
    # Every session once first: a slow run would otherwise count each session's first view (a miss) as load.
    with httpx.Client(timeout=30) as c:
        for token in tokens:
            assert c.get(stack.portal_url, cookies={"portal_session": token}).status_code == 200
    wrk("warm-up", stack.portal_url, 2, connections, headers, cookies)
    pids = {name: proc.pid for name, proc in stack.processes.items() if proc.pid and proc.running}
    before = identity_resolves(stack)
    name = f"portal home ({len(tokens)} session{'s' if len(tokens) > 1 else ''}{label})"
    result = measured(pids, lambda: wrk(name, stack.portal_url, seconds, connections, headers, cookies))
    return result, (identity_resolves(stack) - before) / max(result.requests, 1)


def restart_gateway(stack: Stack, session_cache_seconds: str) -> None:
    stack.stop_process("gateway")
    env = stack.process("gateway").env
    assert env is not None
    env["GATEWAY_SESSION_CACHE_SECONDS"] = session_cache_seconds
    stack.start_process("gateway")


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
    parser.add_argument("--sessions", type=int, default=1, help="signed-in sessions the load is spread over")
    parser.add_argument(
        "--compare-session-cache",
        action="store_true",
        help="measure the home with the gateway keeping sessions 5 s, then 300 s (issue 16)",
    )
    args = parser.parse_args()
    subprocess.run(["bash", str(HERE.parent / "scripts" / "ensure-wrk.sh")], check=True)

    baseline = measure_baseline(args.seconds, args.connections)
    portals: list[tuple[Result, float]] = []
    with tempfile.TemporaryDirectory() as var:
        with Stack(StackConfig(var_dir=Path(var), free_ports=True)) as stack:
            seed_stack(stack)
            if args.compare_session_cache:
                restart_gateway(stack, "5")
                tokens = sign_in_sessions(stack, max(args.sessions, 1))
                portals.append(measure_portal(stack, args.seconds, args.connections, tokens, ", sessions kept 5 s"))
                restart_gateway(stack, "300")
                portals.append(measure_portal(stack, args.seconds, args.connections, tokens, ", kept 300 s"))
            else:
                tokens = sign_in_sessions(stack, max(args.sessions, 1))
                portals.append(measure_portal(stack, args.seconds, args.connections, tokens))
            rss = memory(stack)

    width = max(42, *(len(r.name) for r, _ in portals))
    print(f"\n{'':{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'Resolve/req':>11}")
    b = baseline
    print(f"{b.name:{width}} {b.rps:9.0f} {b.p50_ms:8.1f} {b.p99_ms:8.1f} {b.errors:7d}")
    for r, resolves in portals:
        print(f"{r.name:{width}} {r.rps:9.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.errors:7d} {resolves:11.4f}")
    for r, _ in portals:
        print(f"\nratio {r.name} / baseline: {r.rps / baseline.rps:.2f}x (target >= 1.0x)")
    print("\nCPU ms per request, by process (the machine has 2 cores; wrk's own share is not counted):")
    for r in (baseline, *(r for r, _ in portals)):
        busy = {n: ms for n, ms in r.cpu_ms.items() if ms >= 0.05}
        cells = ", ".join(f"{n} {ms:.2f}" for n, ms in sorted(busy.items(), key=lambda kv: -kv[1]))
        print(f"  {r.name:{width}} total {sum(r.cpu_ms.values()):5.2f}: {cells}")
    print(f"\nresident memory after the load (limit {MEMORY_LIMIT_MB} MB per service):")
    for name, mb in sorted(rss.items()):
        flag = "" if name in ("gateway", "nats", "mailcatcher") or mb < MEMORY_LIMIT_MB else "  OVER"
        print(f"  {name:12} {mb:7.1f} MB{flag}")
    return 0 if all(r.errors == 0 for r, _ in portals) else 1


if __name__ == "__main__":
    sys.exit(main())
