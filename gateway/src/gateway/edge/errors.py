"""The one place gRPC status codes and HTTP errors become HTTP answers: RFC 9457 problem details.

Pages reuse the same mapping for their error pages: install_handlers answers JSON for /api/ paths and hands
the Kind to the pages' own answer (web.deps.PageErrors) for every other path.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.edge.limits import is_upload_route

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://portal.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Backend details look like "subject: must not be empty" when the error concerns one field.
_FIELD_DETAIL = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): (.+)$", re.DOTALL)


@dataclass(frozen=True)
class Kind:
    status: int
    slug: str
    title: str
    # Shown when the cause's own words must not reach the client (server-side failures).
    generic_detail: str | None = None


INVALID = Kind(400, "invalid-request", "The request is not valid")
UNAUTHENTICATED = Kind(401, "unauthenticated", "Authentication required")
FORBIDDEN = Kind(403, "forbidden", "Not allowed")
CSRF = Kind(403, "csrf", "The form could not be verified")
NOT_FOUND = Kind(404, "not-found", "Not found")
METHOD_NOT_ALLOWED = Kind(405, "method-not-allowed", "Method not allowed")
CONFLICT = Kind(409, "conflict", "Conflict with the current state")
TOO_LARGE = Kind(413, "payload-too-large", "Request body too large")
UNSUPPORTED_MEDIA = Kind(415, "unsupported-media-type", "Unsupported media type")
RATE_LIMITED = Kind(429, "rate-limited", "Too many requests")
INTERNAL = Kind(500, "internal-error", "Internal error", "Something went wrong on our side; it has been logged.")
BAD_GATEWAY = Kind(502, "bad-gateway", "A backend service failed", "A backend service failed to answer properly.")
UNAVAILABLE = Kind(
    503, "backend-unavailable", "Temporarily unavailable", "A backend service is temporarily unavailable; try again."
)

SIGN_IN_BUSY = Kind(503, "sign-in-busy", "Sign-in is busy")

GRPC_TO_KIND: dict[grpc.StatusCode, Kind] = {
    grpc.StatusCode.INVALID_ARGUMENT: INVALID,
    grpc.StatusCode.OUT_OF_RANGE: INVALID,
    grpc.StatusCode.NOT_FOUND: NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED: FORBIDDEN,
    grpc.StatusCode.UNAUTHENTICATED: UNAUTHENTICATED,
    grpc.StatusCode.ALREADY_EXISTS: CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: CONFLICT,
    grpc.StatusCode.ABORTED: CONFLICT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RATE_LIMITED,
    grpc.StatusCode.UNAVAILABLE: UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: UNAVAILABLE,
}

HTTP_TO_KIND: dict[int, Kind] = {
    k.status: k
    for k in (
        INVALID,
        UNAUTHENTICATED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        TOO_LARGE,
        UNSUPPORTED_MEDIA,
        RATE_LIMITED,
        INTERNAL,
        BAD_GATEWAY,
        UNAVAILABLE,
        CONFLICT,
    )
}


@dataclass
class Problem:
    kind: Kind
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    # The title in the caller's language (SPEC H5); the kind's English title when empty.
    title: str = ""

    @property
    def status(self) -> int:
        return self.kind.status

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind.slug,
            "title": self.title or self.kind.title,
            "status": self.kind.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self, instance: str | None = None) -> JSONResponse:
        return JSONResponse(
            self.body(instance), status_code=self.status, media_type=PROBLEM_MEDIA_TYPE, headers=self.headers or None
        )


def split_field(details: str) -> tuple[str | None, str]:
    """("subject", "must not be empty") from "subject: must not be empty"; (None, details) otherwise."""
    m = _FIELD_DETAIL.match(details or "")
    return (m.group(1), m.group(2)) if m else (None, details or "")


def problem_from_rpc(err: grpc.aio.AioRpcError) -> Problem:
    kind = GRPC_TO_KIND.get(err.code(), BAD_GATEWAY)
    if kind.generic_detail:
        return Problem(kind, kind.generic_detail, headers={"Retry-After": "5"} if kind is UNAVAILABLE else {})
    name, detail = split_field(err.details() or "")
    problem = Problem(kind, detail or kind.title)
    if name:
        problem.detail = f"{name}: {detail}"
        problem.errors = [{"field": name, "message": detail}]
    if kind is UNAUTHENTICATED:
        problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


def problem_from_status(status: int, detail: str | None = None, headers: dict[str, str] | None = None) -> Problem:
    kind = HTTP_TO_KIND.get(status) or (Kind(status, "http-error", "HTTP error") if status < 500 else BAD_GATEWAY)
    text = kind.generic_detail or detail or kind.title
    problem = Problem(kind, text, headers=dict(headers or {}))
    # A request error about one field ("contact_id: not a contact of this customer") names it in `errors`, as the
    # backends' INVALID_ARGUMENT answers do.
    name, message = split_field(text) if kind is INVALID else (None, "")
    if name:
        problem.errors = [{"field": name, "message": message}]
    return problem


def problem_from_validation(exc: RequestValidationError) -> Problem:
    errors = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        where = loc[0] if loc else "body"
        name = ".".join(loc[1:]) or where
        errors.append({"field": name, "in": where, "message": e.get("msg", "invalid")})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "The request is not valid."
    return Problem(INVALID, detail, errors=errors)


def problem_sign_in_busy(retry_after: int) -> Problem:
    """identity's password-hashing queue is full: come back in `retry_after` seconds (nothing was counted)."""
    detail = (
        f"Many people are signing in at once; this attempt was not checked and does not count. "
        f"Retry in {retry_after} s (Retry-After), with the same Idempotency-Key if you sent one."
    )
    return Problem(SIGN_IN_BUSY, detail, headers={"Retry-After": str(retry_after)})


def problem_unauthenticated(detail: str) -> Problem:
    return Problem(UNAUTHENTICATED, detail, headers={"WWW-Authenticate": "Bearer"})


class PageErrorAnswers(Protocol):
    """What a non-API path answers to an error (the edge knows no page; the web layer passes this in)."""

    async def error(self, request: Request, kind: Kind) -> Response: ...

    def signed_out(self, request: Request) -> Response: ...

    def problem_words(self, request: Request, kind: Kind) -> tuple[str, str] | None:
        """The kind's title and generic detail in the caller's language; None for English (the canonical text)."""
        ...


def localized(request: Request, problem: Problem, pages: PageErrorAnswers) -> Problem:
    """SPEC H5: the gateway's own words of a problem (its title, and its detail when it is the gateway's generic one)
    in the caller's language (the `lang` cookie or Accept-Language). A service's detail stays as the service wrote it
    (English): services do not know the reader's language."""
    words = pages.problem_words(request, problem.kind)
    if words is None:
        return problem
    title, detail = words
    problem.title = title
    # Generic: the kind's own words, or Starlette's reason phrase ("Not Found") for a route that does not exist.
    generic = (problem.kind.title, problem.kind.generic_detail, HTTPStatus(problem.status).phrase)
    if problem.detail in generic and not problem.errors:
        problem.detail = detail
    return problem


def is_api(request: Request) -> bool:
    """JSON callers: our API, and the processors' webhooks (problem+json, never an HTML page)."""
    return request.url.path.startswith(("/api/", "/webhooks/"))


def install_handlers(app: FastAPI, pages: PageErrorAnswers) -> None:
    @app.exception_handler(grpc.aio.AioRpcError)
    async def rpc_error(request: Request, exc: grpc.aio.AioRpcError) -> Response:
        problem = problem_from_rpc(exc)
        if problem.status >= 500:
            log.warning("backend call failed", extra={"code": exc.code().name, "path": request.url.path})
        if is_api(request):
            if problem.status == 401:
                token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                if token:
                    request.app.state.sessions.drop(token)
            return localized(request, problem, pages).response()
        if problem.status == 401:
            return pages.signed_out(request)
        return await pages.error(request, problem.kind)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 413:
            settings = request.app.state.settings
            multipart = request.headers.get("content-type", "").lower().startswith("multipart/form-data")
            if multipart and is_upload_route(request.url.path):
                limit_mb = settings.max_upload_bytes / (1024 * 1024)
                detail = f"The file is larger than the {limit_mb:g} MB this server accepts."
            else:
                limit_mb = settings.max_body_bytes / (1024 * 1024)
                detail = f"The request body is larger than the {limit_mb:g} MB this server accepts."
        problem = problem_from_status(exc.status_code, detail, dict(exc.headers or {}))
        if is_api(request):
            return localized(request, problem, pages).response()
        return await pages.error(request, problem.kind)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problem = problem_from_validation(exc)
        if is_api(request):
            return problem.response()
        return await pages.error(request, problem.kind)
