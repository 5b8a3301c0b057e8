"""Opaque keyset cursors: (sort key, id) of the last row of a page, base64 JSON.

A list whose order can change (a sort option, staff and portal views of one table) puts its mode first, so a cursor
of one order is refused by another instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Any, TypeVar, overload

from servicekit.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
# Row ids are UUIDs or short references; a longer id in a cursor was not written by us.
CURSOR_ID_MAX = 64

MALFORMED = "the cursor is malformed; start again from the first page"
OTHER_ORDER = "the cursor belongs to another sort order; start again from the first page"

_K = TypeVar("_K", datetime, date, str)


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
        raise InvalidArgument(MALFORMED, field="cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidArgument(MALFORMED, field="cursor")
    return values


def keyset_cursor(key: datetime | date | str, row_id: str, mode: str = "") -> str:
    """The cursor after a row whose sort key is `key`; `keyset(cursor, mode, key=type(key))` reads it back."""
    value = key.isoformat() if isinstance(key, date) else key
    return encode_cursor(mode, value, row_id) if mode else encode_cursor(value, row_id)


@overload
def keyset(cursor: str, mode: str = "") -> tuple[datetime, str] | None: ...
@overload
def keyset(cursor: str, mode: str = "", *, key: type[_K]) -> tuple[_K, str] | None: ...
def keyset(cursor: str, mode: str = "", *, key: type = datetime) -> tuple[Any, str] | None:
    """The (sort key, id) a keyset cursor continues after, None for the first page.

    `key` is the sort key's type: a datetime must carry its offset (ours always do), a date is a calendar day, a
    str is taken as is. A malformed cursor is the caller's error (INVALID_ARGUMENT on `cursor`), as is a cursor of
    another `mode`.
    """
    values = decode_cursor(cursor, 3 if mode else 2)
    if values is None:
        return None
    if mode:
        cursor_mode, *values = values
        if cursor_mode != mode:
            raise InvalidArgument(OTHER_ORDER, field="cursor")
    raw, row_id = values
    if not isinstance(raw, str) or not isinstance(row_id, str) or len(row_id) > CURSOR_ID_MAX:
        raise InvalidArgument(MALFORMED, field="cursor")
    if key is str:
        return raw, row_id
    try:
        if key is datetime:
            parsed: date = datetime.fromisoformat(raw)
            if parsed.tzinfo is None:
                raise ValueError(raw)
        elif key is date:
            parsed = date.fromisoformat(raw)
        else:
            raise TypeError(f"a keyset sort key is a datetime, a date or a str, not {key!r}")
    except ValueError:
        raise InvalidArgument(MALFORMED, field="cursor") from None
    return parsed, row_id
