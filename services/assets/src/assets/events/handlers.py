"""The handlers of the events the assets service consumes: none yet. A consumer goes in `consumers()` as
`Consumer(name=..., subject=..., message=<event class>, handler=..., db=db, metrics=metrics)`; handlers import the
domain services at the top of this module."""

from __future__ import annotations

from servicekit.db import Database
from servicekit.events import Consumer
from servicekit.metrics import KitMetrics


def consumers(*, db: Database, metrics: KitMetrics) -> list[Consumer]:
    """The durable, inbox-idempotent consumers the assets service runs."""
    return []
