"""Every backend call goes through here: a deadline, the principal token, the browser's origin (edge.origin), and a
metric per outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from gateway.edge import origin
from gateway.edge.metrics import BACKEND_CALLS
from servicekit.grpc_client import call_options


class Caller:
    """Calls one backend's stub methods with its deadline and counts each outcome."""

    def __init__(self, backend: str, timeout: float) -> None:
        self.backend = backend
        self.timeout = timeout
        self._ok = BACKEND_CALLS.labels(backend, "OK")

    async def __call__(
        self, method: Callable[..., Awaitable[Any]], request: Any, token: str | None, *, deadline: float | None = None
    ) -> Any:
        options = call_options(token, timeout=deadline or self.timeout)
        # The browser's address and user agent travel with every call (edge.origin); few services record them.
        metadata = (*options.get("metadata", ()), *origin.metadata())
        if metadata:
            # A Metadata object skips grpc.aio's isinstance(..., typing.Sequence) check, which is slow.
            options["metadata"] = grpc.aio.Metadata(*metadata)
        try:
            response = await method(request, **options)
        except grpc.aio.AioRpcError as err:
            BACKEND_CALLS.labels(self.backend, err.code().name).inc()
            raise
        self._ok.inc()
        return response
