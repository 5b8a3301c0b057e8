"""JSON-lines logging on stdout with the current trace and span ids."""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter


class _TraceIdsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else ""
        record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else ""
        return True


def setup_logging(service: str, level: str = "INFO") -> None:
    """Replace root handlers with one JSON handler; safe to call twice."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_TraceIdsFilter())
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter at INFO would drown the service's own lines.
    for noisy in ("aiosqlite", "asyncio", "nats", "alembic.runtime.migration", "sqlalchemy.engine", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
