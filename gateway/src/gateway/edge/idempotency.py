"""The one shape of an idempotency key, for page forms (hidden field) and the API (header or body)."""

from __future__ import annotations

import re
import secrets

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_key() -> str:
    """Made when a form renders, so a double submit of that form does its work once."""
    return secrets.token_urlsafe(24)
