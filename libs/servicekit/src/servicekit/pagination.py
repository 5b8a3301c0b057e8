"""Opaque keyset cursors: (sort key, id) of the last row of a page, base64 JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

from servicekit.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative", field="page_size")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any] | None:
    """The values of a cursor, None for the first page; a malformed cursor is the caller's error."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    # A crafted cursor of deeply nested brackets makes json raise RecursionError, which must not be a 500.
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidArgument("the cursor is malformed; start again from the first page", field="cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidArgument("the cursor is malformed; start again from the first page", field="cursor")
    return values
