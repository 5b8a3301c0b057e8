"""Event subject names, apart from servicekit.events: the gateway only subscribes to subjects, and importing the
outbox and inbox (SQLAlchemy, the database layer) for a name would cost it about 20 MB of memory (issue 16)."""

from __future__ import annotations


def subject(service: str, name: str) -> str:
    """Event subjects follow portal.<service>.<event>.v1."""
    return f"portal.{service}.{name}.v1"
