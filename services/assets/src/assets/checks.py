"""Input rules every assets aggregate shares: who is staff or admin, ids, one-line texts, idempotency keys."""

from __future__ import annotations

from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.principal import Principal, require_admin

ID_MAX = 36
IDEMPOTENCY_KEY_MAX = 150

__all__ = ["ID_MAX", "clean_id", "clean_key", "clean_text", "require_admin", "require_staff"]


def require_staff(principal: Principal, action: str = "manage sites and assets") -> None:
    """Staff of either role (technicians work customers' devices)."""
    if not principal.is_staff:
        raise PermissionDenied(f"only staff may {action}")


def clean_id(value: str, *, field: str, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{field} is required", field=field)
    if len(value) > ID_MAX or "\x00" in value:
        raise InvalidArgument(f"{field} is not a valid id", field=field)
    return value


def clean_text(value: str, *, field: str, limit: int, required: bool = False, multiline: bool = False) -> str:
    """A text with its whitespace tidied (one line unless `multiline`), refused when missing or too long."""
    value = value.strip() if multiline else " ".join(value.split())
    label = field.replace("_", " ")
    if required and not value:
        raise InvalidArgument(f"a {label} is required", field=field)
    if len(value) > limit:
        raise InvalidArgument(f"the {label} must be at most {limit} characters", field=field)
    if "\x00" in value:
        raise InvalidArgument(f"the {label} must not contain NUL characters", field=field)
    return value


def clean_key(value: str) -> str | None:
    """An idempotency key, or None when the request has none."""
    value = value.strip()
    if len(value) > IDEMPOTENCY_KEY_MAX or "\x00" in value:
        raise InvalidArgument(
            f"the idempotency key must be at most {IDEMPOTENCY_KEY_MAX} characters", field="idempotency_key"
        )
    return value or None
