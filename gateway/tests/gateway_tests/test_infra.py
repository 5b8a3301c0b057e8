"""Settings, health and readiness, security headers, metrics, and starting the real process."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys

import pytest
from prometheus_client import REGISTRY

from gateway.config import Settings
from gateway.edge.metrics import BACKEND_UP
from gateway_tests.conftest import Gateway, free_port, make_settings, running_gateway
from servicekit.settings import load_settings

ADDRS = {f"GATEWAY_{n}_ADDR": "127.0.0.1:1" for n in ("IDENTITY", "TICKETS", "BILLING", "ASSETS", "REMOTE")}


def test_missing_backend_address_stops_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("GATEWAY_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("GATEWAY_SESSION_SECRET", "s")
    with pytest.raises(SystemExit) as exc:
        load_settings(Settings)
    assert "GATEWAY_IDENTITY_ADDR: Field required" in str(exc.value)


def test_prod_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ADDRS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GATEWAY_ENV", "prod")
    for weak in ("changeme", "short", "x" * 31, "please-change-this-secret-before-going-live"):
        monkeypatch.setenv("GATEWAY_SESSION_SECRET", weak)
        with pytest.raises(SystemExit, match="GATEWAY_SESSION_SECRET"):
            load_settings(Settings)
    monkeypatch.setenv("GATEWAY_SESSION_SECRET", "Zq3v" * 12)
    assert load_settings(Settings).env == "prod"
    monkeypatch.setenv("GATEWAY_ENV", "dev")
    monkeypatch.setenv("GATEWAY_SESSION_SECRET", "dev")
    assert load_settings(Settings).env == "dev"


def test_addresses_must_be_host_and_port() -> None:
    with pytest.raises(ValueError, match="host:port"):
        make_settings("localhost")


@pytest.mark.asyncio
async def test_security_headers_on_every_response(gw: Gateway) -> None:
    for path in ("/signin", "/api/v1/me", "/nope", "/static/portal.css"):
        r = await gw.client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert (await gw.client.get("/signin")).headers["cache-control"] == "no-store"


@pytest.mark.asyncio
async def test_health_and_readiness(backends) -> None:
    def up(backend: str) -> float | None:
        return REGISTRY.get_sample_value("portal_gateway_backend_up", {"backend": backend})

    async with running_gateway(backends) as g:
        assert (await g.client.get("/healthz")).json() == {"status": "ok"}
        r = await g.client.get("/readyz")
        assert r.status_code == 200 and set(r.json()["backends"].values()) == {"SERVING"}
        assert r.json()["degraded"] == [] and r.json()["required"] == ["identity"]
        assert up("remote") == 1 and up("identity") == 1
    # One backend other than identity down: the pages degrade per section, so the gateway stays ready (a
    # not-ready answer would take every portal page out of the load balancer); the gauge shows the outage.
    async with running_gateway(backends, remote_addr=f"127.0.0.1:{free_port()}") as g:
        r = await g.client.get("/readyz")
        assert r.status_code == 200, r.json()
        assert r.json()["backends"]["remote"] == "UNAVAILABLE" and r.json()["degraded"] == ["remote"]
        assert up("remote") == 0 and up("tickets") == 1
    # Identity down: no page can be served (sign-in, sessions, every request's principal).
    async with running_gateway(backends, identity_addr=f"127.0.0.1:{free_port()}") as g:
        r = await g.client.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "not ready"
        assert r.json()["backends"]["identity"] == "UNAVAILABLE" and up("identity") == 0
        assert (await g.client.get("/healthz")).status_code == 200


@pytest.mark.asyncio
async def test_backend_health_is_watched_without_probes(backends) -> None:
    """The gauge stays current where nothing probes /readyz (make run): a background check every interval."""
    async with running_gateway(backends, backend_health_interval_seconds="0.2") as g:
        BACKEND_UP.labels("billing").set(0)  # as if billing had been down
        g.app.state.readiness = None  # type: ignore[attr-defined]
        # Polled rather than one fixed sleep: a 0.5 s wait for the 0.2 s check failed twice on a loaded machine.
        # 10 s is 50 intervals; only a watcher that never runs misses it.
        deadline = asyncio.get_running_loop().time() + 10
        while g.app.state.readiness is None or _billing_up() != 1:  # type: ignore[attr-defined]
            assert asyncio.get_running_loop().time() < deadline, "no background health check in 10 s"
            await asyncio.sleep(0.05)


def _billing_up() -> float | None:
    return REGISTRY.get_sample_value("portal_gateway_backend_up", {"backend": "billing"})


@pytest.mark.asyncio
async def test_metrics_use_route_templates_and_count_backend_calls(gw: Gateway) -> None:
    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    route = {"route": "/api/v1/tickets/{ticket_id}", "method": "GET", "status": "404"}
    before = sample("portal_gateway_http_requests_total", route)
    calls_before = sample("portal_gateway_backend_calls_total", {"backend": "tickets", "code": "NOT_FOUND"})
    timed_before = sample(
        "portal_gateway_backend_call_duration_seconds_count", {"backend": "tickets", "method": "GetTicket"}
    )
    token = await gw.api_token("carol@globex.test")
    await gw.client.get("/api/v1/tickets/tkt-1", headers={"Authorization": f"Bearer {token}"})
    assert sample("portal_gateway_http_requests_total", route) == before + 1
    assert sample("portal_gateway_http_request_duration_seconds_count", {"route": "/api/v1/tickets/{ticket_id}"}) >= 1
    assert sample("portal_gateway_backend_calls_total", {"backend": "tickets", "code": "NOT_FOUND"}) == calls_before + 1
    # Each call's time as the gateway saw it, by method, refusals included.
    timed = {"backend": "tickets", "method": "GetTicket"}
    assert sample("portal_gateway_backend_call_duration_seconds_count", timed) == timed_before + 1
    assert (
        sample(
            "portal_gateway_http_requests_total", {"route": "/api/v1/tickets/tkt-1", "method": "GET", "status": "404"}
        )
        == 0
    )


async def test_the_event_loops_lag_is_sampled_while_the_gateway_runs(gw: Gateway) -> None:
    def count() -> float:
        return REGISTRY.get_sample_value("portal_gateway_event_loop_lag_seconds_count") or 0.0

    before = count()
    await asyncio.sleep(0.35)
    # Ten samples a second while the app's lifespan runs (a sample is taken when its timer fires).
    assert count() >= before + 2


async def test_every_garbage_collection_is_timed_while_the_gateway_runs(gw: Gateway) -> None:
    def count(generation: str) -> float:
        return REGISTRY.get_sample_value("portal_gateway_gc_pause_seconds_count", {"generation": generation}) or 0.0

    before = {g: count(g) for g in ("0", "1", "2")}
    gc.collect(0)
    gc.collect()
    assert count("0") >= before["0"] + 1
    assert count("2") >= before["2"] + 1
    assert (REGISTRY.get_sample_value("portal_gateway_gc_pause_seconds_sum", {"generation": "2"}) or 0.0) > 0


def test_the_server_freezes_what_its_start_made() -> None:
    """What is alive once the app is made is out of the collector's sight; what becomes garbage later is not."""
    from gateway.server import freeze_what_start_made

    try:
        freeze_what_start_made()
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()

        class Cycle:
            def __init__(self) -> None:
                self.me = self

        Cycle()
        assert gc.collect() >= 1  # made after the freeze: collected as before
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def _gateway_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(ADDRS, GATEWAY_SESSION_SECRET="s", GATEWAY_HTTP_PORT=str(port), GATEWAY_METRICS_PORT="0")
    return env


def test_busy_http_port_is_one_clear_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "gateway"], env=_gateway_env(port), capture_output=True, text=True, timeout=60
        )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.asyncio
async def test_http_spans_when_tracing_is_on(backends) -> None:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from gateway.main import create_app, instrument

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(make_settings(backends.address))
    instrument(app, tracer_provider=provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            assert (await client.get("/signin")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["GET /signin"]


def test_every_route_and_dependency_runs_on_the_event_loop() -> None:
    """FastAPI runs a plain `def` endpoint or dependency in a worker thread: under load each such hop costs the
    request several turns of the busy event loop and a fight for the GIL (a new ticket took ~1 s at 64 connections
    with two of them). So every one is `async def`; this fails naming each one that is not."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

    from gateway.main import create_app

    app = create_app(make_settings("127.0.0.1:1"))

    def threaded(dependant: Dependant, where: str) -> list[str]:
        found = []
        call = dependant.call
        if call is not None and not (
            asyncio.iscoroutinefunction(call) or asyncio.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004
        ):
            found.append(f"{where}: {getattr(call, '__qualname__', call)!r}")
        for sub in dependant.dependencies:
            found += threaded(sub, where)
        return found

    def api_routes(routes: list) -> list[APIRoute]:
        found = []
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            # An included router (FastAPI keeps it whole and matches into it; its routes are the router's own).
            elif (router := getattr(route, "original_router", None)) is not None:
                found += api_routes(router.routes)
            elif isinstance(getattr(route, "routes", None), list):  # a mounted app or router
                found += api_routes(route.routes)
        return found

    routes = api_routes(app.routes)
    assert len(routes) > 100, "the app's routes were not found"
    offenders = [hit for r in routes for hit in threaded(r.dependant, f"{','.join(sorted(r.methods))} {r.path}")]
    assert offenders == [], offenders
