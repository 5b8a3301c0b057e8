"""The one rule for required text fields (ticket subjects and descriptions, article and announcement titles and
bodies): NUL-free, not empty, within a limit, with a clear message naming the field."""

from __future__ import annotations

from servicekit.errors import InvalidArgument


def checked_text(value: str, *, field: str, label: str, limit: int) -> str:
    """`value` as given, or INVALID_ARGUMENT naming `field` when it breaks the rule."""
    if "\x00" in value:
        raise InvalidArgument(f"the {label} must not contain NUL characters", field=field)
    if not value:
        raise InvalidArgument(f"a {label} is required", field=field)
    if len(value) > limit:
        raise InvalidArgument(f"the {label} must be at most {limit} characters (it has {len(value)})", field=field)
    return value


def text_field(value: str, *, field: str, label: str, limit: int, one_line: bool) -> str:
    """A required text, trimmed first: one line (runs of whitespace become one space) or stripped."""
    value = " ".join(value.split()) if one_line else value.strip()
    return checked_text(value, field=field, label=label, limit=limit)
