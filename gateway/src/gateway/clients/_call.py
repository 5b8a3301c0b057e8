"""Every backend call goes through here: a deadline, the principal token, the browser's origin (edge.origin), a
metric per outcome, and the read cache's two hooks (clients/read_cache.py): each answer's size while a cached read
fills, and a version bump after every call that may have written."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter
from typing import Any

import grpc

from gateway.clients import read_cache
from gateway.edge import origin
from gateway.edge.metrics import BACKEND_CALLS, BACKEND_DURATION
from servicekit.grpc_client import call_options

# RPCs that change nothing: every other one (Create*, Update*, Pay...) moves the read cache's version of its backend's
# area, after it answered or failed in a way that may have written. Unknown names count as writes.
_READ_PREFIXES = ("Get", "List", "Search", "Count", "Render", "Download", "Watch", "Propose", "Resolve")
_READS = frozenset({"CheckCustomerRefs", "CheckPasswordToken", "CheckStaffInvitation", "SignIn", "VerifyMfaCode"})
# Refusals after which nothing was written.
_REFUSED = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_writes: dict[bytes, bool] = {}


def is_write(method: Any) -> bool:
    path = getattr(method, "_method", None)
    known = _writes.get(path) if isinstance(path, bytes) else None
    if known is None:
        name = path.decode().rsplit("/", 1)[-1] if isinstance(path, bytes) else ""
        known = not name or not (name.startswith(_READ_PREFIXES) or name in _READS)
        if isinstance(path, bytes):
            _writes[path] = known
    return known


class Caller:
    """Calls one backend's stub methods with its deadline and counts each outcome."""

    def __init__(self, backend: str, timeout: float) -> None:
        self.backend = backend
        self.timeout = timeout
        self._ok = BACKEND_CALLS.labels(backend, "OK")
        self._durations: dict[Any, Any] = {}

    def _duration(self, method: Any) -> Any:
        """The method's labelled histogram, looked up once per method (labels() costs more than observe())."""
        found = self._durations.get(method)
        if found is None:
            path = getattr(method, "_method", b"")
            name = path.decode().rsplit("/", 1)[-1] if isinstance(path, bytes) else "?"
            found = self._durations[method] = BACKEND_DURATION.labels(self.backend, name or "?")
        return found

    async def __call__(
        self, method: Callable[..., Awaitable[Any]], request: Any, token: str | None, *, deadline: float | None = None
    ) -> Any:
        options = call_options(token, timeout=deadline or self.timeout)
        # The browser's address and user agent travel with every call (edge.origin); few services record them.
        metadata = (*options.get("metadata", ()), *origin.metadata())
        if metadata:
            # A Metadata object skips grpc.aio's isinstance(..., typing.Sequence) check, which is slow.
            options["metadata"] = grpc.aio.Metadata(*metadata)
        began = perf_counter()
        try:
            response = await method(request, **options)
        except grpc.aio.AioRpcError as err:
            self._duration(method).observe(perf_counter() - began)
            BACKEND_CALLS.labels(self.backend, err.code().name).inc()
            # A page that met an error (a section "unavailable", a refusal) is never stored by the page cache.
            read_cache.spoil_page()
            if err.code() not in _REFUSED and is_write(method):
                read_cache.CACHE.wrote(token, self.backend)
            raise
        self._duration(method).observe(perf_counter() - began)
        self._ok.inc()
        if is_write(method):
            read_cache.CACHE.wrote(token, self.backend, response)
        else:
            read_cache.record_size(response)
        return response

    async def server_stream(
        self, method: Callable[..., Any], request: Any, token: str | None, *, deadline: float | None = None
    ) -> tuple[Any, AsyncIterator[Any]]:
        """A server-streaming call: (its first message, the rest). The first is awaited here, so a refusal
        (NOT_FOUND...) is raised before the caller starts answering; the rest ends the call when closed."""
        read_cache.spoil_page()  # streams (downloads, live pages) are never part of a stored page
        options = call_options(token, timeout=deadline or self.timeout)
        if "metadata" in options:
            options["metadata"] = grpc.aio.Metadata(*options["metadata"])
        call = method(request, **options)
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as err:
            BACKEND_CALLS.labels(self.backend, err.code().name).inc()
            raise
        if first is grpc.aio.EOF:
            call.cancel()
            raise LookupError("the stream ended before its first message")

        async def rest() -> AsyncIterator[Any]:
            try:
                while (msg := await call.read()) is not grpc.aio.EOF:
                    yield msg
            except grpc.aio.AioRpcError as err:
                BACKEND_CALLS.labels(self.backend, err.code().name).inc()
                raise
            else:
                self._ok.inc()
            finally:
                call.cancel()

        return first, rest()
