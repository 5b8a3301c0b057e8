"""Single-machine mode behind make run: NATS, SMTP catcher, services, gateway, demo data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal_local.stack import PORT_SLOTS, PROCESSES, SERVICES, Stack, StackConfig, StackError

__all__ = ["PORT_SLOTS", "PROCESSES", "SERVICES", "Stack", "StackConfig", "StackError"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m portal_local.mailcatcher` and the pytest plugin do not import grpc for nothing.
    if name in __all__:
        from portal_local import stack

        return getattr(stack, name)
    raise AttributeError(f"module 'portal_local' has no attribute {name!r}")
