"""The edge of every request: security headers, request metrics, and the last-resort error answer.

Plain ASGI rather than BaseHTTPMiddleware: it runs on every request, so it should cost next to nothing.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge import origin
from gateway.edge.errors import INTERNAL, Problem
from gateway.edge.limits import body_limit
from gateway.edge.metrics import HTTP_DURATION, HTTP_REQUESTS

log = logging.getLogger(__name__)

_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
# The API docs page (api/swagger.py) runs the vendored Swagger UI, whose stylesheet draws its icons as data: images
# and which fetches the OpenAPI description from this origin: only data: images are added, on that page alone.
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'"
)


def page_csp(*, style_origin: str = "", img_origin: str = "", inline_styles: bool = False) -> str:
    """The page policy, widened to one extra https origin for stylesheets and one for images (the operator's custom
    CSS and logo, SPEC P12), and with `inline_styles` to the <style> elements a script makes (the remote terminal:
    xterm.js writes its colours and cell sizes into one; scripts stay 'self' only); nothing else is relaxed."""
    extra = ""
    if style_origin or inline_styles:
        extra += "; style-src 'self'" + (f" {style_origin}" if style_origin else "")
        extra += " 'unsafe-inline'" if inline_styles else ""
    if img_origin:
        extra += f"; img-src 'self' {img_origin}"
    return _CSP + extra


_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NO_STORE = (b"cache-control", b"no-store")
_STATIC_PREFIX = "/static/"
_DOCS_PATH = "/api/v1/docs"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes the limit; the app's 413 handler answers it."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Content Too Large")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int = 0, hsts: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        base = [*_COMMON, _HSTS] if hsts else list(_COMMON)
        self._page_headers = [(b"content-security-policy", _CSP.encode()), *base]
        self._docs_headers = [(b"content-security-policy", _DOCS_CSP.encode()), *base]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        origin.bind(scope)
        path: str = scope["path"]
        extra = self._docs_headers if path.startswith(_DOCS_PATH) else self._page_headers
        no_store = not path.startswith(_STATIC_PREFIX)
        status = 500
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                # A route may widen its own policy (the add-card form posts to the payment processor).
                if any(k == b"content-security-policy" for k, _ in headers):
                    headers.extend(h for h in extra if h[0] != b"content-security-policy")
                else:
                    headers.extend(extra)
                if no_store and not any(k == b"cache-control" for k, _ in headers):
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            receive = self._limited(scope, receive)
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error", extra={"path": path, "method": scope.get("method")})
            status = 500
            if not started:
                await _internal_error(path, send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            HTTP_REQUESTS.labels(template, scope.get("method", ""), str(status)).inc()
            HTTP_DURATION.labels(template).observe(time.perf_counter() - start)

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        limit = body_limit(
            scope["path"],
            _header(scope, b"content-type"),
            max_body_bytes=self.max_body_bytes,
            max_upload_bytes=self.max_upload_bytes,
        )
        declared = _content_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        return limited_receive


async def _internal_error(path: str, send: Send) -> None:
    if path.startswith("/api/"):
        body = json.dumps(Problem(INTERNAL, INTERNAL.generic_detail or "").body()).encode()
        ctype = b"application/problem+json"
    else:
        body = (
            b"<!doctype html><html lang=en><meta charset=utf-8><title>Something went wrong</title>"
            b"<link rel=stylesheet href=/static/portal.css><main class=narrow><h1>Something went wrong</h1>"
            b"<p>An unexpected error happened on our side. It has been logged. <a href=/>Back to the portal</a></p>"
            b"</main></html>"
        )
        ctype = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
