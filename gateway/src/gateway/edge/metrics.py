"""The gateway's Prometheus metrics, declared once, served on their own port."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "portal_gateway_http_requests",
    "HTTP requests answered, by route template",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "portal_gateway_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
BACKEND_CALLS = Counter(
    "portal_gateway_backend_calls",
    "gRPC calls to backends, by backend and status code",
    ["backend", "code"],
)
BACKEND_DURATION = Histogram(
    "portal_gateway_backend_call_duration_seconds",
    "Time from a unary backend call's start to its answer or error as the gateway sees it (the gateway's own event "
    "loop, the network and the service), by backend and gRPC method",
    ["backend", "method"],
    buckets=_LATENCY_BUCKETS,
)
EVENT_LOOP_LAG = Histogram(
    "portal_gateway_event_loop_lag_seconds",
    "How late a timer of the event loop fires (sampled ten times a second): the time a ready request or a backend's "
    "answer waits behind the others before the loop gets to it; each await on a backend costs a few of these",
    buckets=_LATENCY_BUCKETS,
)
GC_PAUSE = Histogram(
    "portal_gateway_gc_pause_seconds",
    "How long each of Python's garbage collections stopped the process, by generation (2: the whole heap, whose time "
    "grows with what the caches hold); every request in flight waits for it",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
SEARCH_UNSEARCHED = Counter(
    "portal_gateway_search_unsearched",
    "Global searches answered without one area (tickets, billing, assets), by area and reason (timeout or a gRPC code)",
    ["area", "reason"],
)
BACKEND_UP = Gauge(
    "portal_gateway_backend_up",
    "1 when the backend answered its gRPC health check SERVING at the last check (see /readyz), else 0",
    ["backend"],
    multiprocess_mode="min",
)


async def watch_event_loop(interval: float = 0.1) -> None:
    """Observe EVENT_LOOP_LAG until cancelled: a busy loop serves a request that needs no backend in one turn, but
    one that awaits a backend several turns later, so this lag (not the routes' own time) is what a write waits."""
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(0.0, loop.time() - began - interval))


def watch_gc() -> Callable[[], None]:
    """Observe GC_PAUSE for every collection from now on; returns what stops it."""
    pauses = [GC_PAUSE.labels(str(g)) for g in range(3)]
    began = 0.0

    def timed(phase: str, info: dict) -> None:
        nonlocal began
        if phase == "start":
            began = time.perf_counter()
        else:
            pauses[min(info["generation"], 2)].observe(time.perf_counter() - began)

    gc.callbacks.append(timed)
    return lambda: gc.callbacks.remove(timed)


def serve_metrics(port: int, host: str = "127.0.0.1", *, multiprocess: bool = False) -> None:
    """Expose /metrics on `port` (0 disables); a busy port stops the start with one readable line. With
    `multiprocess` (GATEWAY_WORKERS > 1, PROMETHEUS_MULTIPROC_DIR set), the sum over the worker processes."""
    if not port:
        return
    registry = None
    if multiprocess:
        from prometheus_client import CollectorRegistry
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
    try:
        if registry is None:
            start_http_server(port, addr=host)
        else:
            start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise SystemExit(f"gateway: cannot listen for metrics on {host}:{port}: {exc.strerror or exc}") from None


READ_CACHE_LOOKUPS = Counter(
    "portal_gateway_read_cache_lookups",
    "Cached read calls by outcome: hit, miss, or bypass_<reason> (staff, events_down, recent_write, disabled...)",
    ["outcome"],
)
READ_CACHE_INVALIDATIONS = Counter(
    "portal_gateway_read_cache_invalidations",
    "Version bumps of the read cache, by area and cause (event, event_global, peer_write, local_write, derived)",
    ["area", "reason"],
)
READ_CACHE_ENTRIES = Gauge("portal_gateway_read_cache_entries", "Answers held in the read cache")
READ_CACHE_BYTES = Gauge("portal_gateway_read_cache_bytes", "Approximate memory of the answers in the read cache")
READ_CACHE_EVENTS_CONNECTED = Gauge(
    "portal_gateway_read_cache_events_connected",
    "1 while the change feed's NATS subscription is connected (the cache is bypassed while 0)",
)
PAGE_CACHE_LOOKUPS = Counter(
    "portal_gateway_page_cache_lookups",
    "Signed-in portal pages looked up in the page cache (edge/page_cache.py): hit, miss (none kept) or stale (kept, "
    "but something it was built from changed)",
    ["outcome"],
)
PAGE_CACHE_STALE = Counter(
    "portal_gateway_page_cache_stale",
    "Stale page-cache lookups by what ended the kept page: session, controls, day, age (the TTL), lease (a list kept "
    "apart, such as the ticket statuses, ran out), own_write (the browser wrote since) or changed (a version moved)",
    ["reason"],
)
PAGE_CACHE_BYTES = Gauge("portal_gateway_page_cache_bytes", "Approximate memory of the pages in the page cache")
SECTION_CACHE_LOOKUPS = Counter(
    "portal_gateway_section_cache_lookups",
    "The home's sections looked up in the section cache (web/section_cache.py): hit, miss (none kept) or stale",
    ["outcome"],
)
SECTION_CACHE_STALE = Counter(
    "portal_gateway_section_cache_stale",
    "Stale section-cache lookups by what ended the kept section: day, age, lease, own_write or changed (as for pages)",
    ["reason"],
)
SECTION_CACHE_BYTES = Gauge(
    "portal_gateway_section_cache_bytes", "Approximate memory of the home's sections in the section cache"
)
# The session cache (edge/sessions.py, issue 16).
SESSION_CACHE_LOOKUPS = Counter(
    "portal_gateway_session_cache_lookups",
    "Session lookups in the principal cache: hit (no call to identity) or miss (a ResolveSession, shared by "
    "concurrent misses of one session)",
    ["result"],
)
SESSION_CACHE_EVICTIONS = Counter(
    "portal_gateway_session_cache_evictions",
    "Principal cache entries removed without an event: expired, or the least recently used one at the size bound",
    ["cause"],
)
SESSION_CACHE_INVALIDATIONS = Counter(
    "portal_gateway_session_cache_invalidations",
    "Invalidations of the principal cache by reason: identity's SessionsChanged reasons, customer_updated, "
    "customer_deleted, and connection/missed (NATS lost or messages dropped: entries cut to the short TTL)",
    ["reason"],
)
SESSION_CACHE_DROPPED = Counter(
    "portal_gateway_session_cache_dropped",
    "Principal cache entries dropped by invalidations, by reason",
    ["reason"],
)
SESSION_EVENTS_CONNECTED = Gauge(
    "portal_gateway_session_events_connected",
    "1 while the gateway hears identity's session events (principals kept GATEWAY_SESSION_CACHE_SECONDS), 0 while "
    "it does not (kept GATEWAY_PRINCIPAL_CACHE_SECONDS); with several workers, the lowest of them",
    multiprocess_mode="min",
)
