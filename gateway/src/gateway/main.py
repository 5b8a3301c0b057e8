"""Wiring: settings → app with its routes, error handlers and middleware; the lifespan owns the channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from gateway import api, web
from gateway.clients import Backends
from gateway.clients.change_feed import ChangeFeed
from gateway.clients.read_cache import CACHE
from gateway.clients.session_events import SessionEvents
from gateway.config import Settings
from gateway.edge import health
from gateway.edge.csrf import Csrf
from gateway.edge.metrics import watch_event_loop, watch_gc
from gateway.edge.page_cache import PAGES
from gateway.edge.sessions import PrincipalCache
from gateway.edge.wiring import install_edge
from gateway.web.render import Pages
from gateway.web.section_cache import SECTIONS

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backends = Backends.open(settings)
        app.state.backends = backends
        app.state.sessions = PrincipalCache(
            backends.identity,
            app.state.csrf,
            ttl_seconds=settings.session_cache_seconds,
            short_ttl_seconds=settings.principal_cache_seconds,
            max_entries=settings.session_cache_entries,
        )
        CACHE.configure(
            max_entries=settings.read_cache_entries,
            max_bytes=settings.read_cache_bytes,
            ttl_seconds=settings.read_cache_seconds,
        )
        PAGES.configure(max_entries=settings.page_cache_entries, max_bytes=settings.page_cache_bytes)
        # The home's sections: as many entries as pages, in half the pages' bytes (they are parts of pages).
        SECTIONS.configure(max_entries=settings.page_cache_entries, max_bytes=settings.page_cache_bytes // 2)
        # Off (0 entries or 0 seconds): no subscription either, every read goes to its backend.
        feed = ChangeFeed(CACHE, settings.nats_url)
        if CACHE.enabled:
            feed.start()
        # Every process hears identity's session events on its own; until it does, principals are kept briefly.
        events = asyncio.create_task(SessionEvents(settings.nats_url, app.state.sessions).run())
        app.state.readiness = None
        app.state.readiness_lock = asyncio.Lock()
        interval = settings.backend_health_interval_seconds
        watch = asyncio.create_task(health.watch_backends(app, interval)) if interval else None
        lag = asyncio.create_task(watch_event_loop())
        unwatch_gc = watch_gc()
        try:
            yield
        finally:
            unwatch_gc()
            events.cancel()
            lag.cancel()
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
            # Bounded: nats-py's first connect, retrying an unreachable server, may swallow one cancellation.
            await asyncio.wait({events}, timeout=2)
            await web.close(app)
            await feed.close()
            await backends.close()

    app = FastAPI(
        title="Customer portal API",
        version="1",
        description="The portal's JSON API. Errors are RFC 9457 problem details (`application/problem+json`).",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # api/swagger.py serves /api/v1/docs from the vendored Swagger UI
        redoc_url=None,
        lifespan=lifespan,
        # Spans come from FastAPIInstrumentor when tracing is on (see instrument()); FastAPI's own telemetry
        # would add a second wrapper on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.csrf = Csrf(settings.session_secret.get_secret_value().encode())
    app.state.pages = Pages(operator_name=settings.operator_name)
    install_edge(app, page_errors=web.PAGE_ERRORS)
    # Pages first: the portal home is the hottest route and routes are matched in order.
    web.include(app)
    api.include(app)
    return app


def instrument(app: FastAPI, tracer_provider: TracerProvider | None = None) -> None:
    """OpenTelemetry server spans for the app (the gRPC client side is instrumented process-wide)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls="/healthz,/readyz,/static/.*",
        exclude_spans=["receive", "send"],
    )
