"""OpenTelemetry tracing set up from the standard OTEL_* variables, with the library instrumentations."""

from __future__ import annotations

import os

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_configured = False


def traces_exported() -> bool:
    """Whether the standard OTEL_* variables ask for spans to be exported.

    Instrumentation that nobody exports still costs (measured: it roughly doubles a small RPC's CPU), so
    services and the gateway instrument only when this is true.
    """
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    return exporter in ("otlp", "console") or (
        exporter != "none" and bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    )


def setup_tracing(service: str) -> TracerProvider | None:
    """Install a tracer provider once per process.

    Spans are exported with OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_TRACES_EXPORTER=otlp) is
    set, to stdout with OTEL_TRACES_EXPORTER=console; otherwise spans still exist so that log lines and
    NATS headers carry trace ids, but nothing is exported.
    """
    global _configured
    if _configured:
        provider = trace.get_tracer_provider()
        return provider if isinstance(provider, TracerProvider) else None
    _configured = True
    name = os.environ.get("OTEL_SERVICE_NAME", service)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif traces_exported():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def instrument_grpc_server() -> None:
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer

    GrpcAioInstrumentorServer().instrument()


def instrument_grpc_client() -> None:
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient

    GrpcAioInstrumentorClient().instrument()


def instrument_engine(engine) -> None:  # noqa: ANN001 - an AsyncEngine
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares sqlalchemy < 2.1 and otherwise does nothing but log an ERROR; the engine
    # events it hooks are unchanged in 2.1, so its spans are produced as before.
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, skip_dep_check=True)


def inject_headers() -> dict[str, str]:
    """The current trace context as message headers (W3C traceparent)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(headers: dict[str, str] | None):  # noqa: ANN201
    return propagate.extract(headers or {})


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
