"""Input rules shared by the aggregates: emails, logins, names and passwords, each error naming its field."""

from __future__ import annotations

import re

from servicekit.errors import InvalidArgument

MAX_EMAIL = 254
MAX_NAME = 200
MIN_PASSWORD = 10
# Long enough for any passphrase, short enough that hashing an attacker's megabyte costs nothing.
MAX_PASSWORD = 1024

_EMAIL = re.compile(
    r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_USERNAME = re.compile(r"^[A-Za-z0-9._+-]{3,64}$")
_PLACEHOLDER_WORDS = ("change", "example", "demo", "password", "placeholder", "secret", "admin", "default", "test")


def looks_like_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and _EMAIL.match(value) is not None


def key(value: str) -> str:
    """The case-insensitive form logins and emails are unique and looked up by."""
    return value.strip().lower()


def email(value: str, *, field: str = "email", required: bool = True) -> str:
    """A trimmed, well-formed email address ('' when optional and empty)."""
    value = value.strip()
    if not value:
        if required:
            raise InvalidArgument("enter an email address", field=field)
        return ""
    if len(value) > MAX_EMAIL:
        raise InvalidArgument(f"an email address has at most {MAX_EMAIL} characters", field=field)
    if not looks_like_email(value):
        raise InvalidArgument("enter a valid email address, like name@example.com", field=field)
    return value


def login(value: str, *, field: str = "login") -> str:
    """A login is an email address or a username of 3 to 64 letters, digits and . _ + -."""
    value = value.strip()
    if not value:
        raise InvalidArgument("enter an email address or a username", field=field)
    if "@" in value:
        return email(value, field=field)
    if not _USERNAME.match(value):
        raise InvalidArgument("a username has 3 to 64 letters, digits or . _ + -", field=field)
    return value


def text(value: str, *, field: str, max_length: int = MAX_NAME, required: bool = False, what: str = "") -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"enter {what or 'a value'}", field=field)
    if len(value) > max_length:
        raise InvalidArgument(f"at most {max_length} characters", field=field)
    return value


def new_password(value: str, *, field: str = "password") -> str:
    if len(value) < MIN_PASSWORD:
        raise InvalidArgument(f"a password needs at least {MIN_PASSWORD} characters", field=field)
    if len(value) > MAX_PASSWORD:
        raise InvalidArgument(f"a password has at most {MAX_PASSWORD} characters", field=field)
    return value


def is_placeholder_password(value: str) -> bool:
    """Too short, one repeated character, or built on a word that demo and example configs use."""
    lowered = value.lower()
    return len(value) < 12 or len(set(value)) < 4 or any(w in lowered for w in _PLACEHOLDER_WORDS)
