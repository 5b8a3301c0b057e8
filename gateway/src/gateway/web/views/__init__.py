"""Rows for the page templates, one module per area, formatted in Python once: calling helpers from inside Jinja
costs far more than a lookup."""

from __future__ import annotations

from gateway.areas.tickets import status_key


def status_class(value: str) -> str:
    return "status-" + status_key(value)
