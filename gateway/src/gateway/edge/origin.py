"""The browser a request comes from (its address and user agent), bound once per request by the edge middleware and
sent by `clients._call.Caller` as metadata of every backend call (servicekit.origin), so a service that records
who did what from where (the credential access log) has it without each route passing it along."""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import Scope

from servicekit.origin import origin_metadata

_ORIGIN: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("request_origin", default=())


def bind(scope: Scope) -> None:
    """Remember the request's client address and user agent for the calls made while serving it."""
    client = scope.get("client")
    agent = b""
    for key, value in scope.get("headers", ()):
        if key == b"user-agent":
            agent = value
            break
    _ORIGIN.set(origin_metadata(client[0] if client else "", agent.decode("latin-1")))


def metadata() -> tuple[tuple[str, str], ...]:
    """The metadata entries of the current request's origin; empty outside a request."""
    return _ORIGIN.get()
