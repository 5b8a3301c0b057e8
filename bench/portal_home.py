"""Benchmark: a signed-in portal page (the home by default) through the gateway at 64 connections, next to a
baseline measured in the same run — a bare FastAPI route making six concurrent grpc.aio calls to a trivial server.

The portal side is issue 16's workload (bench/workload.py): two customers, each with 1 000 tickets and 3 500 replies,
200 invoices and 100 assets, and 128 signed-in sessions over both customers and both scopes (All and Mine). The load
(bench/mixed_load.lua) is 95 % page views and 5 % writes (new tickets through the JSON API), and every answer is
checked: the right user's signed-in page, and after a write the same session's next view already shows it.

Prints requests/s, p50 and p99 for both, their ratio, the checks, the CPU time each process spent per request (which
says where a page's cost goes, and how that compares with the baseline's), the gateway's time per route and per
backend call, its garbage collections, and every process's resident memory right after the stack started and after
the load (the growth is what the data set-up and the load added). Load comes from wrk (Debian's package;
scripts/ensure-wrk.sh installs it). Run: `make bench` or
`uv run python bench/portal_home.py [--seconds 10] [--connections 64] [--page /tickets] [--small] [--writes 5]`
(`--writes 0`: the views alone).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from portal_local.ports import free_port
from portal_local.seed import seed_stack
from portal_local.stack import Stack, StackConfig

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import profiles  # noqa: E402 - bench/ is not a package
import workload  # noqa: E402

MEMORY_LIMIT_MB = 150
CHECKED = re.compile(
    r"checked views=(\d+) writes=(\d+) wrong=(\d+) stale=(\d+) failed=(\d+) displaced=(\d+) example=(.*)"
)
# From bench/mixed_load.lua: each kind of request's count, p50 and p99 in ms.
TIMES = re.compile(r"(view|follow|write)=(\d+):([\d.]+):([\d.]+)")
KINDS = {"view": "views", "follow": "views right after a write", "write": "writes"}

CACHES = ("read", "page", "section")
# At most this many warm-ups, until one's drain takes at most WARM_FOR seconds (well within the caches' 30 s).
WARM_UPS = 3
WARM_FOR = 10.0


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    # From bench/mixed_load.lua: views, writes, wrong pages, stale pages, failed requests, views after a write whose
    # ticket newer ones pushed off the list, and the first problem.
    checks: tuple = ()
    # CPU milliseconds per request of each process serving the load (user + system, children included).
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # {quantile: {route: (requests, the quantile's bucket bound in ms)}}, the gateway's own time per route.
    routes: dict = field(default_factory=dict)
    # wrk's own CPU milliseconds per request (its Lua checks included): it shares the two cores with what it measures.
    load_cpu_ms: float = 0.0
    # From bench/mixed_load.lua, per kind of request: (requests, p50 ms, p99 ms).
    kinds: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    # The gateway's garbage collections in the run, by generation: (collections, seconds in all, the longest's bound).
    gc: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    # The gateway's cache lookups during the timed run only (not the data set-up's or the warm-up's): {cache: {outcome:
    # count}}.
    caches: dict = field(default_factory=dict)


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


def settle(pids: dict[str, int], limit: float = 600.0) -> float:
    """Wait until the processes are idle (under 35 % of one core together for two seconds in a row; idle, the stack's
    timers and polls take 5-25 %, draining the set-up's emails 80-100 %): the data set-up
    leaves work behind (thousands of notification emails in the outboxes, events still being consumed), and a
    measurement taken while it drains would charge that work to the page. Answers the seconds waited."""
    began = time.monotonic()
    quiet, last = 0, cpu_seconds(pids)
    while quiet < 2 and time.monotonic() - began < limit:
        time.sleep(1)
        now = cpu_seconds(pids)
        quiet = quiet + 1 if sum(now.values()) - sum(last.values()) < 0.35 else 0
        last = now
    return time.monotonic() - began


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(name: str, url: str, seconds: int, connections: int, headers: dict[str, str], script: list[str] = ()) -> Result:
    """`script`: a Lua script and its arguments; it runs with one thread per connection (see mixed_load.lua)."""
    threads = connections if script else 2
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    if script:
        args += ["-s", script[0]]
    spent = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [*args, url, *(["--", *script[1:]] if script else [])], check=True, capture_output=True, text=True
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_cpu = after.ru_utime + after.ru_stime - spent.ru_utime - spent.ru_stime
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return Result(
        name=name,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        errors=errors,
        requests=requests,
        checks=m.groups() if (m := CHECKED.search(out)) else (),
        kinds={k: (int(n), float(p50), float(p99)) for k, n, p50, p99 in TIMES.findall(_times_line(out))},
        load_cpu_ms=1000 * load_cpu / max(requests, 1),
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


def _times_line(out: str) -> str:
    line = re.search(r"^times .*$", out, re.M)
    return line.group(0) if line else ""


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
        # The app first: its channel would otherwise log the server going away.
        for p in reversed(procs):
            p.terminate()
            p.wait(10)


PROFILED = ("gateway", "identity", "tickets", "billing", "assets", "remote")


def measure_portal(  # noqa: PLR0913
    stack: Stack,
    sessions_file: Path,
    page: str,
    seconds: int,
    connections: int,
    profile_dir: Path | None = None,
    writes: int = 5,
) -> Result:
    script = [str(HERE / "mixed_load.lua"), str(sessions_file), page, str(writes)]
    url = stack.portal_url.rstrip("/") + page
    pids = {name: proc.pid for name, proc in stack.processes.items() if proc.pid and proc.running}
    print(f"waited {settle(pids):.0f} s for the data set-up's emails and events to drain")
    # The run measures the steady state, with the caches warm: what the warm-up filled lives GATEWAY_READ_CACHE_SECONDS
    # (30 s), so when its emails took long to drain (one run waited over 30 s on a busy machine, and its home made five
    # times the backend calls) the caches are warmed again.
    for _ in range(WARM_UPS):
        wrk("warm-up", url, 2, connections, {}, script)
        waited = settle(pids)
        print(f"waited {waited:.0f} s for the warm-up's emails and events to drain")
        if waited <= WARM_FOR:
            break
    # py-spy samples from outside the process (its own CPU is not in the processes' figures, but it shares the cores:
    # compare a profiled run's figures only with each other).
    profiler = (
        profiles.Profiler({n: pids[n] for n in PROFILED if n in pids}, profile_dir, seconds) if profile_dir else None
    )
    timed = [name for name in ("gateway", "tickets", "identity") if name in pids]
    before = {k: v for name in timed for k, v in route_buckets(stack, name).items()}
    lookups = {name: cache_lookups(stack, name) for name in CACHES}
    gc_before = gc_pauses(stack)
    result = measured(
        pids, lambda: wrk(f"portal {page} (128 sessions, {writes} % writes)", url, seconds, connections, {}, script)
    )
    after = {k: v for name in timed for k, v in route_buckets(stack, name).items()}
    result.caches = {
        name: {k: n - lookups[name].get(k, 0.0) for k, n in cache_lookups(stack, name).items()} for name in CACHES
    }
    result.routes = {q: route_quantiles(before, after, q) for q in (0.5, 0.99)}
    result.gc = gc_in_run(gc_before, gc_pauses(stack))
    if profiler is not None:
        profiles.print_summary(profiler.wait())
    return result


def memory(stack: Stack) -> dict[str, float]:
    return {
        name: psutil.Process(proc.pid).memory_info().rss / 2**20
        for name, proc in stack.processes.items()
        if proc.pid and proc.running
    }


def cache_bytes(stack: Stack) -> dict[str, float]:
    """The gateway's caches' approximate memory at the end (their bounds are settings: GATEWAY_*_CACHE_BYTES)."""
    text = httpx.get(stack.metrics_url("gateway"), timeout=5).text
    found = re.findall(r"^portal_gateway_(read|page|section)_cache_bytes (\S+)$", text, re.M)
    return {name: float(n) / 2**20 for name, n in found}


def route_buckets(stack: Stack, process: str = "gateway") -> dict[str, dict[float, float]]:
    """A process's request-duration histogram (the gateway's per route, a service's per gRPC method): per route, the
    cumulative count at each bucket's upper bound."""
    text = httpx.get(stack.metrics_url(process), timeout=5).text
    pattern = r"^portal_\w+_(?:(?:http|grpc)_request|backend_call)_duration_seconds_bucket\{([^}]*)\} (\S+)$"
    out: dict[str, dict[float, float]] = {}
    # How late the gateway's event loop fires a timer: what each await on a backend waits under the load.
    for n_le, n in re.findall(r'^portal_gateway_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M):
        out.setdefault(f"{process} event loop lag", {})[float(n_le)] = float(n)
    for labels, n in re.findall(pattern, text, re.M):
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        route = found.get("route") or found.get("method", "?")
        # The gateway's calls to a backend, timed from the gateway's side: "gateway → tickets CreateTicket".
        where = f"{process} → {found['backend']}" if "backend" in found else process
        out.setdefault(f"{where} {route}", {})[float(found["le"])] = float(n)
    return out


def gc_pauses(stack: Stack) -> dict[str, dict[str, float]]:
    """The gateway's GC pause histogram: per generation, its cumulative buckets by bound ("le") and its "sum"."""
    text = httpx.get(stack.metrics_url("gateway"), timeout=5).text
    out: dict[str, dict[str, float]] = {}
    for gen, le, n in re.findall(
        r'^portal_gateway_gc_pause_seconds_bucket\{generation="(\d)",le="([^"]+)"\} (\S+)$', text, re.M
    ):
        out.setdefault(gen, {})[le] = float(n)
    for gen, n in re.findall(r'^portal_gateway_gc_pause_seconds_sum\{generation="(\d)"\} (\S+)$', text, re.M):
        out.setdefault(gen, {})["sum"] = float(n)
    return out


def gc_in_run(before: dict, after: dict) -> dict[str, tuple[float, float, float]]:
    """Per generation, what the run added: (collections, seconds in all, the bound of the longest's bucket)."""
    out = {}
    for gen, buckets in after.items():
        added = {le: n - before.get(gen, {}).get(le, 0.0) for le, n in buckets.items()}
        count = added.get("+Inf", 0.0)
        if count:
            bounds = sorted((float(le), n) for le, n in added.items() if le not in ("sum", "+Inf"))
            longest = next((le for le, n in bounds if n >= count), float("inf"))
            out[gen] = (count, added.get("sum", 0.0), longest)
    return out


def route_quantiles(before: dict, after: dict, q: float) -> dict[str, tuple[float, float]]:
    """Per route, (requests, the q-quantile's bucket bound in ms) over what the run added: the gateway's own time to
    answer (the queue before it reads a request is not in it), which tells the page's tail from the writes'."""
    out = {}
    for route, buckets in after.items():
        added = {le: n - before.get(route, {}).get(le, 0.0) for le, n in buckets.items()}
        total = added.get(float("inf"), 0.0)
        if total < 20:
            continue
        bound = next(le for le in sorted(added) if added[le] >= q * total)
        out[route] = (total, bound * 1000)
    return out


def cache_lookups(stack: Stack, cache: str) -> dict[str, float]:
    """The gateway's lookups in its read, page or section cache so far, by outcome, and the stale ones by what ended
    the kept page or section ("stale: <reason>")."""
    text = httpx.get(stack.metrics_url("gateway"), timeout=5).text
    found = re.findall(rf'^portal_gateway_{cache}_cache_lookups_total\{{outcome="([^"]+)"\}} (\S+)$', text, re.M)
    ended = re.findall(rf'^portal_gateway_{cache}_cache_stale_total\{{reason="([^"]+)"\}} (\S+)$', text, re.M)
    return {outcome: float(n) for outcome, n in found} | {f"stale: {reason}": float(n) for reason, n in ended}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--page", default="/", help="the page viewed: /, /tickets or /billing/invoices")
    parser.add_argument("--small", action="store_true", help="a tenth of the data shape, for a quick try")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the stack's processes, e.g. GATEWAY_PAGE_CACHE_ENTRIES=0 (repeatable)",
    )
    parser.add_argument(
        "--writes",
        type=int,
        default=5,
        choices=range(101),
        metavar="PERCENT",
        help="the share of requests that are writes (new tickets); issue 16's load is 5, 0 measures the views alone",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="record the services with py-spy into DIR and print their hot spots"
    )
    args = parser.parse_args()
    shape = (
        workload.Shape(users=64, tickets=100, replies=350, invoices=20, assets=10) if args.small else workload.Shape()
    )
    subprocess.run(["bash", str(HERE.parent / "scripts" / "ensure-wrk.sh")], check=True)

    baseline = measure_baseline(args.seconds, args.connections)
    env = dict(e.split("=", 1) for e in args.env)
    with tempfile.TemporaryDirectory() as var:
        with Stack(StackConfig(var_dir=Path(var), free_ports=True, env=env)) as stack:
            rss_started = memory(stack)
            seed_stack(stack)
            began = time.monotonic()
            sessions = asyncio.run(workload.build(stack, shape))
            sessions_file = Path(var) / "bench-sessions.tsv"
            workload.write_sessions(sessions, sessions_file)
            print(f"data shape {shape} and {len(sessions)} sessions made in {time.monotonic() - began:.0f} s")
            portal = measure_portal(
                stack, sessions_file, args.page, args.seconds, args.connections, args.profile, args.writes
            )
            rss = memory(stack)
            held = cache_bytes(stack)

    print(f"\n{'':42} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in (baseline, portal):
        print(f"{r.name:42} {r.rps:9.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.errors:7d}")
    for kind, (n, p50, p99) in portal.kinds.items():
        if n:
            print(f"  {KINDS[kind]:40} {n:9d} requests, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    target = 1.2 if args.page == "/" else 1.5
    print(f"\nratio portal/baseline: {portal.rps / baseline.rps:.2f}x (issue 16's target >= {target}x, p99 <= 250 ms)")
    if portal.checks:
        views, writes, wrong, stale, failed, displaced, example = portal.checks
        print(
            f"checked: {views} views, {writes} writes; wrong page {wrong}, stale after a write {stale}, failed {failed}"
            f" (and {displaced} views after a write pushed off the list by newer tickets, which is right)"
        )
        if example:
            print(f"  first problem: {example}")
    else:
        print("checked: the Lua script printed no checks (is wrk built with Lua?)")
    settings = {"read": "GATEWAY_READ_CACHE_ENTRIES", "page": "GATEWAY_PAGE_CACHE_ENTRIES"}
    settings["section"] = settings["page"]
    for name, setting in settings.items():
        if portal.caches.get(name):
            found = sorted(portal.caches[name].items(), key=lambda kv: -kv[1])
            cells = ", ".join(f"{k} {v:.0f}" for k, v in found if v)
            print(f"gateway {name} cache lookups in the run ({setting}=0 turns it off): {cells}")
    if held:
        print("gateway caches' memory: " + ", ".join(f"{name} {mb:.1f} MB" for name, mb in sorted(held.items())))
    print("\nCPU ms per request, by process (the machine has 2 cores; wrk's own share is not counted):")
    for r in (baseline, portal):
        busy = {n: ms for n, ms in r.cpu_ms.items() if ms >= 0.05}
        cells = ", ".join(f"{n} {ms:.2f}" for n, ms in sorted(busy.items(), key=lambda kv: -kv[1]))
        print(f"  {r.name:42} total {sum(r.cpu_ms.values()):5.2f}: {cells}; and wrk itself {r.load_cpu_ms:.2f}")
    if portal.routes:
        print(
            "\ntime to answer in the run, per gateway route, gateway call to a backend, and tickets and identity gRPC"
            " method (bounds 5, 10, 25, 50, 100 ms...):"
        )
        for route, (n, p50) in sorted(portal.routes[0.5].items(), key=lambda kv: -kv[1][0]):
            print(f"  {route:42} {n:6.0f} requests, p50 <= {p50:g} ms, p99 <= {portal.routes[0.99][route][1]:g} ms")
    if portal.gc:
        cells = "; ".join(
            f"generation {gen}: {n:.0f}, {total * 1000:.0f} ms in all, the longest <= {longest * 1000:g} ms"
            for gen, (n, total, longest) in sorted(portal.gc.items())
        )
        print(f"  gateway garbage collections in the run: {cells}")
    print(f"\nresident memory, MB (limit {MEMORY_LIMIT_MB} MB per service after the load):")
    print(f"  {'':12} {'started':>8} {'after the load':>15} {'growth':>7}")
    for name, mb in sorted(rss.items()):
        # Ours only: NATS, the mail catcher and the S3 server stand in for infrastructure an operator runs.
        flag = "" if name in ("nats", "mailcatcher", "s3") or mb < MEMORY_LIMIT_MB else "  OVER"
        start = rss_started.get(name, 0.0)
        print(f"  {name:12} {start:8.1f} {mb:15.1f} {mb - start:+7.1f}{flag}")
    problems = sum(int(x) for x in portal.checks[2:5]) if portal.checks else 1
    return 0 if portal.errors == 0 and problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
