"""The Prometheus metrics the kit records for every service, declared once, named portal_<service>_*."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class KitMetrics:
    grpc_requests: Counter
    grpc_duration: Histogram
    outbox_backlog: Gauge
    outbox_oldest_age: Gauge
    events_published: Counter
    events_consumed: Counter
    consumer_lag: Gauge
    events_dead_lettered: Counter
    retention_pruned: Counter


_by_service: dict[str, KitMetrics] = {}


def kit_metrics(service: str, registry: CollectorRegistry = REGISTRY) -> KitMetrics:
    """The kit's metrics for `service`, created on first use (a process may host a service twice in tests)."""
    if service in _by_service:
        return _by_service[service]
    p = f"portal_{service}"
    m = KitMetrics(
        grpc_requests=Counter(f"{p}_grpc_requests", "gRPC requests handled", ["method", "code"], registry=registry),
        grpc_duration=Histogram(
            f"{p}_grpc_request_duration_seconds",
            "gRPC request handling time",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        outbox_backlog=Gauge(f"{p}_outbox_backlog", "Events written but not yet published", registry=registry),
        outbox_oldest_age=Gauge(
            f"{p}_outbox_oldest_age_seconds", "Age of the oldest unpublished event", registry=registry
        ),
        events_published=Counter(
            f"{p}_events_published", "Events published to JetStream", ["subject"], registry=registry
        ),
        events_consumed=Counter(
            f"{p}_events_consumed", "Events handled by consumers", ["consumer", "outcome"], registry=registry
        ),
        consumer_lag=Gauge(
            f"{p}_consumer_lag", "Messages pending for a durable consumer", ["consumer"], registry=registry
        ),
        events_dead_lettered=Counter(
            f"{p}_events_dead_lettered",
            "Events parked in the dead-letter stream after their last failed delivery",
            ["subject"],
            registry=registry,
        ),
        retention_pruned=Counter(
            f"{p}_retention_pruned_rows",
            "Published outbox rows and old inbox rows deleted by the retention job",
            ["table"],
            registry=registry,
        ),
    )
    _by_service[service] = m
    return m


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose /metrics on its own port (0 = disabled)."""
    if port:
        start_http_server(port, addr=host)
