"""How main puts the edge around the app (kept out of edge/__init__ because clients/ imports edge.metrics)."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.edge import errors, health
from gateway.edge.freshness import FreshnessMiddleware
from gateway.edge.middleware import EdgeMiddleware
from gateway.edge.page_cache import PageCacheMiddleware
from gateway.edge.portal_controls import PortalControlsMiddleware
from gateway.edge.proxies import TrustedProxiesMiddleware


def install_edge(app: FastAPI, *, page_errors: errors.PageErrorAnswers) -> None:
    """Error handlers, /healthz and /readyz, and the middleware around every request."""
    settings = app.state.settings
    errors.install_handlers(app, page_errors)
    app.include_router(health.router)
    # Innermost: a stored page is sent only after the off switch, the controls and the portal_rv cookie are known.
    app.add_middleware(PageCacheMiddleware)
    # SPEC P8 and P12: the off switch and the branding, inside the edge middleware (which adds the headers).
    app.add_middleware(PortalControlsMiddleware)
    # The portal_rv cookie of read-your-writes across replicas (edge/freshness.py, clients/read_cache.py).
    app.add_middleware(FreshnessMiddleware)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        hsts=settings.public_url.startswith("https://"),
    )
    # Outermost (added last): everything inside sees the client address decided from the trusted proxies.
    app.add_middleware(TrustedProxiesMiddleware, trusted=settings.trusted_networks)
