"""Wiring: settings → app with its routes, error handlers and middleware; the lifespan owns the channels."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import quote

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api import errors
from gateway.api.billing import router as billing_api
from gateway.api.deps import ApiUnauthenticated
from gateway.api.knowledge import router as knowledge_api
from gateway.api.routes import router as api_router
from gateway.api.staff_billing import router as staff_billing_api
from gateway.api.staff_identity import router as staff_identity_api
from gateway.api.staff_portal_controls import router as staff_portal_controls_api
from gateway.api.staff_secure_links import router as staff_secure_links_api
from gateway.api.tickets import router as tickets_api
from gateway.api.tickets_staff import router as tickets_staff_api
from gateway.clients import Backends
from gateway.config import Settings
from gateway.csrf import Csrf
from gateway.middleware import EdgeMiddleware
from gateway.portal_controls import PortalControlsMiddleware
from gateway.sessions import SESSION_COOKIE, PrincipalCache
from gateway.web import announcements
from gateway.web.account import router as account_router
from gateway.web.billing import router as billing_pages
from gateway.web.knowledge import router as knowledge_pages
from gateway.web.render import STATIC_DIR, Pages
from gateway.web.routes import COOKIE_FLAGS, CsrfRejected, SignInRequired
from gateway.web.routes import router as web_router
from gateway.web.secure_links import router as secure_links_pages
from gateway.web.staff import STAFF_COOKIE, STAFF_COOKIE_FLAGS, STAFF_SIGNIN
from gateway.web.staff import router as staff_router
from gateway.web.tickets import router as tickets_pages
from gateway.web.tickets_live import close_feed
from gateway.web.tickets_live import router as tickets_live

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger(__name__)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _signin_redirect(
    next_path: str,
    *,
    clear_cookie: bool,
    signin_path: str = "/signin",
    cookie: str = SESSION_COOKIE,
    reason: str = "",
) -> Response:
    home = signin_path.removesuffix("signin").rstrip("/") or "/"
    target = signin_path if next_path in ("", "/", home) else f"{signin_path}?next={quote(next_path, safe='/')}"
    if reason:
        target += f"{'&' if '?' in target else '?'}why={reason}"
    response = RedirectResponse(target, status_code=303)
    if clear_cookie:
        response.delete_cookie(cookie, **(STAFF_COOKIE_FLAGS if cookie == STAFF_COOKIE else COOKIE_FLAGS))
    return response


def _install_error_handlers(app: FastAPI) -> None:
    def pages(request: Request) -> Pages:
        return request.app.state.pages

    def page_error(request: Request, kind: errors.Kind) -> Response:
        return pages(request).error(request, kind, session=getattr(request.state, "session", None))

    @app.exception_handler(grpc.aio.AioRpcError)
    async def rpc_error(request: Request, exc: grpc.aio.AioRpcError) -> Response:
        problem = errors.problem_from_rpc(exc)
        if problem.status >= 500:
            log.warning("backend call failed", extra={"code": exc.code().name, "path": request.url.path})
        if _is_api(request):
            if problem.status == 401:
                token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                if token:
                    request.app.state.sessions.drop(token)
            return problem.response()
        if problem.status == 401:
            staff = request.url.path.startswith("/staff")
            cookie = STAFF_COOKIE if staff else SESSION_COOKIE
            token = request.cookies.get(cookie)
            if token:
                request.app.state.sessions.drop(token)
            return _signin_redirect(
                request.url.path,
                clear_cookie=True,
                signin_path=STAFF_SIGNIN if staff else "/signin",
                cookie=cookie,
            )
        return page_error(request, problem.kind)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 413:
            limit_mb = request.app.state.settings.max_body_bytes / (1024 * 1024)
            detail = f"The request body is larger than the {limit_mb:g} MB this server accepts."
        problem = errors.problem_from_status(exc.status_code, detail, dict(exc.headers or {}))
        if _is_api(request):
            return problem.response()
        return page_error(request, problem.kind)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problem = errors.problem_from_validation(exc)
        if _is_api(request):
            return problem.response()
        return page_error(request, problem.kind)

    @app.exception_handler(ApiUnauthenticated)
    async def api_unauthenticated(request: Request, exc: ApiUnauthenticated) -> Response:
        return errors.problem_unauthenticated(exc.detail).response()

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        return _signin_redirect(
            exc.next_path,
            clear_cookie=exc.clear_cookie,
            signin_path=exc.signin_path,
            cookie=exc.cookie,
            reason=getattr(exc, "reason", ""),
        )

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        return pages(request).error(request, errors.CSRF, session=getattr(request.state, "session", None))


def _install_health(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        now = time.monotonic()
        cached = state.readiness
        if cached is None or now - cached[0] > state.settings.readiness_cache_seconds:
            async with state.readiness_lock:
                cached = state.readiness
                if cached is None or now - cached[0] > state.settings.readiness_cache_seconds:
                    backends = await state.backends.health(deadline=1.0)
                    cached = (time.monotonic(), backends)
                    state.readiness = cached
        backends = cached[1]
        ready = all(v == "SERVING" for v in backends.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "backends": backends}, status_code=200 if ready else 503
        )


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backends = Backends.open(settings)
        app.state.backends = backends
        app.state.sessions = PrincipalCache(
            backends.identity, app.state.csrf, ttl_seconds=settings.principal_cache_seconds
        )
        app.state.readiness = None
        app.state.readiness_lock = asyncio.Lock()
        try:
            yield
        finally:
            await close_feed(app)
            await backends.close()

    app = FastAPI(
        title="Customer portal API",
        version="1",
        description="The portal's JSON API. Errors are RFC 9457 problem details (`application/problem+json`).",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
        # Spans come from FastAPIInstrumentor when tracing is on (see instrument()); FastAPI's own telemetry
        # would add a second wrapper on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.csrf = Csrf(settings.session_secret.get_secret_value().encode())
    app.state.pages = Pages(operator_name=settings.operator_name)
    announcements.install(app)
    _install_error_handlers(app)
    # Pages first: the portal home is the hottest route and routes are matched in order.
    app.include_router(web_router)
    app.include_router(billing_pages)
    app.include_router(knowledge_pages)  # before tickets_pages: /tickets/charts is not a ticket id
    app.include_router(tickets_pages)
    app.include_router(tickets_live)
    app.include_router(account_router)
    app.include_router(secure_links_pages)
    app.include_router(staff_router)
    app.include_router(api_router)
    app.include_router(staff_identity_api)
    app.include_router(staff_billing_api)
    app.include_router(staff_portal_controls_api)
    app.include_router(staff_secure_links_api)
    app.include_router(billing_api)
    app.include_router(knowledge_api)  # before tickets_api: /api/v1/tickets/charts is not a ticket id
    app.include_router(tickets_api)
    app.include_router(tickets_staff_api)
    _install_health(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # SPEC P8 and P12: the off switch and the branding, inside the edge middleware (which adds the headers).
    app.add_middleware(PortalControlsMiddleware)
    app.add_middleware(
        EdgeMiddleware, max_body_bytes=settings.max_body_bytes, hsts=settings.public_url.startswith("https://")
    )
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
