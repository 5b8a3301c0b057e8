"""The grpc.aio server every service runs: health, reflection, graceful stop, and one interceptor that
verifies the principal, maps domain errors to status codes and records RED metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from servicekit.errors import ServiceError, Unauthenticated, details_with_field
from servicekit.metrics import KitMetrics
from servicekit.principal import (
    METADATA_KEY,
    TokenVerifier,
    reset_current_principal,
    set_current_principal,
)

log = logging.getLogger(__name__)

_ALWAYS_PUBLIC = ("/grpc.health.v1.Health/", "/grpc.reflection.")
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# How long a refused client stream is read on before the refusal is sent anyway (see _RequestStream).
DRAIN_SECONDS = 2.0


class _RequestStream:
    """A client stream's requests, as the handler reads them, noting whether the client has finished sending.

    When a server answers a client stream (an upload refused at its first message, say) while the client is still
    writing, grpc.aio's client can report INTERNAL or UNAVAILABLE instead of the server's status: the failed write
    overrides the status that arrived (grpc/grpc#36066). So the kit reads and drops what is left of the stream
    before it answers, for at most DRAIN_SECONDS; a client that is still sending after that gets the answer anyway."""

    def __init__(self, requests: AsyncIterator) -> None:
        self._requests = aiter(requests)
        self.finished = False

    def __aiter__(self) -> _RequestStream:
        return self

    async def __anext__(self) -> object:
        try:
            return await anext(self._requests)
        except StopAsyncIteration:
            self.finished = True
            raise

    async def drain(self) -> None:
        if self.finished:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DRAIN_SECONDS):
                async for _ in self:
                    pass


class KitInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, *, verifier: TokenVerifier | None, public_methods: Iterable[str], metrics: KitMetrics) -> None:
        self._verifier = verifier
        self._public = frozenset(public_methods)
        self._metrics = metrics

    async def intercept_service(self, continuation, details):  # noqa: ANN001, ANN201
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(_ALWAYS_PUBLIC):
            return handler
        auth = dict(details.invocation_metadata or ()).get(METADATA_KEY, "")
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, auth),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, auth),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            # Client streams (uploads): the same checks as a unary call; the request is an async iterator.
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method, auth, client_stream=True),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, method, auth),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _principal(self, method: str, auth: str):  # noqa: ANN202
        if auth:
            if self._verifier is None:
                raise Unauthenticated("this service does not accept principal tokens")
            if not auth.startswith("Bearer "):
                raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
            return self._verifier.verify(auth.removeprefix("Bearer "))
        if method in self._public:
            return None
        raise Unauthenticated("this call needs a principal token")

    def _wrap_unary(self, behavior: Callable, method: str, auth: str, *, client_stream: bool = False) -> Callable:
        async def wrapped(request, context: grpc.aio.ServicerContext):  # noqa: ANN001, ANN202
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            stream = _RequestStream(request) if client_stream else None
            try:
                principal = self._principal(method, auth)
                token = set_current_principal(principal)
                try:
                    response = await behavior(stream or request, context)
                finally:
                    reset_current_principal(token)
                if stream:
                    await stream.drain()
                return response
            except ServiceError as err:
                code = err.code
                if stream:
                    await stream.drain()
                await context.abort(err.code, details_with_field(err))
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", method)
                if stream:
                    await stream.drain()
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                self._record(method, code, started)

        return wrapped

    def _wrap_stream(self, behavior: Callable, method: str, auth: str) -> Callable:
        async def wrapped(request, context: grpc.aio.ServicerContext):  # noqa: ANN001, ANN202
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                principal = self._principal(method, auth)
                token = set_current_principal(principal)
                try:
                    async for item in behavior(request, context):
                        yield item
                finally:
                    reset_current_principal(token)
            except ServiceError as err:
                code = err.code
                await context.abort(err.code, details_with_field(err))
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                self._record(method, code, started)

        return wrapped

    def _record(self, method: str, code: grpc.StatusCode, started: float) -> None:
        short = method.rsplit("/", 1)[-1]
        self._metrics.grpc_requests.labels(short, code.name).inc()
        self._metrics.grpc_duration.labels(short).observe(time.perf_counter() - started)


class GrpcServer:
    """A started server and the health servicer that announces it."""

    def __init__(self, server: grpc.aio.Server, health: HealthServicer, port: int) -> None:
        self.server = server
        self.health = health
        self.port = port

    async def stop(self, grace: float) -> None:
        """NOT_SERVING first so load balancers drain us, then stop with grace for in-flight calls."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_grpc_server(
    *,
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: list[str],
    verifier: TokenVerifier | None,
    public_methods: Iterable[str] = (),
    metrics: KitMetrics,
) -> GrpcServer:
    """Build, bind and start the server; a busy port stops the service with a clear message."""
    server = grpc.aio.server(
        interceptors=[KitInterceptor(verifier=verifier, public_methods=public_methods, metrics=metrics)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
            # Clients reconnect every few minutes and so re-resolve: new replicas get traffic soon after start.
            ("grpc.max_connection_age_ms", 300_000),
            ("grpc.max_connection_age_grace_ms", 30_000),
            # No window growth by bandwidth probing: on a fast link it let a client push ~20 MB of an upload
            # stream into this process ahead of the handler; at the fixed 64 KiB window an upload waits for
            # the handler (flat memory; measured by tests/e2e/test_uploads_storage.py).
            ("grpc.http2.bdp_probe", 0),
        ],
    )
    register(server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise SystemExit(f"cannot listen for gRPC on {address}: the port is busy or not allowed ({exc})") from exc
    if port == 0:
        raise SystemExit(f"cannot listen for gRPC on {address}: the port is busy")
    await server.start()
    for name in ("", *service_names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GrpcServer(server, health, port)
