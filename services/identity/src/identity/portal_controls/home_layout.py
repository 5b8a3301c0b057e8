"""The portal home's layout (SPEC H3): which sections and widgets the home shows, in which order, and the default
list scope ("all" or "mine"). Kept as one portal_settings row (no schema of its own); functions never commit.

The keys and their default order are servicekit.home_layout.KEYS, the list the gateway's home shares: a key added
there later appears, enabled, at the end of a stored layout (normalise); a key removed there is dropped from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit.service import record
from identity.db import utcnow
from identity.settings.models import PortalSetting
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.home_layout import KEYS
from servicekit.principal import Principal, require_admin

KEY = "home_layout"
SCOPES = ("all", "mine")


@dataclass(frozen=True)
class Layout:
    items: tuple[tuple[str, bool], ...]
    default_scope: str = "all"


DEFAULT = Layout(items=tuple((k, True) for k in KEYS))


def normalise(items: Iterable[tuple[str, bool]], default_scope: str) -> Layout:
    """Known keys in the stored order, each once; the known keys missing from it appended, enabled."""
    seen: dict[str, bool] = {}
    for key, enabled in items:
        if key in KEYS and key not in seen:
            seen[key] = bool(enabled)
    for key in KEYS:
        seen.setdefault(key, True)
    return Layout(items=tuple(seen.items()), default_scope=default_scope if default_scope in SCOPES else "all")


async def get_layout(s: AsyncSession) -> Layout:
    row = await s.get(PortalSetting, KEY)
    if row is None:
        return DEFAULT
    value = row.value or {}
    stored = ((i.get("key", ""), i.get("enabled", True)) for i in value.get("items", []))
    return normalise(stored, value.get("scope", ""))


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff may read the home layout here; the portal reads it with the portal controls")


def validate(items: Iterable[tuple[str, bool]], default_scope: str) -> Layout:
    seen: set[str] = set()
    checked: list[tuple[str, bool]] = []
    for key, enabled in items:
        if key not in KEYS:
            raise InvalidArgument(f"unknown key {key[:64]!r}; known keys: {', '.join(KEYS)}", field="items")
        if key in seen:
            raise InvalidArgument(f"key {key!r} is given twice", field="items")
        seen.add(key)
        checked.append((key, enabled))
    if default_scope not in SCOPES:
        raise InvalidArgument('must be "all" or "mine"', field="default_scope")
    return normalise(checked, default_scope)


async def update_layout(
    s: AsyncSession, *, principal: Principal, items: Iterable[tuple[str, bool]], default_scope: str, reset: bool
) -> Layout:
    """Store a new layout (admins only, SPEC S1); audited."""
    require_admin(principal, "change the portal home's layout")
    new = DEFAULT if reset else validate(items, default_scope)
    value = {"items": [{"key": k, "enabled": e} for k, e in new.items], "scope": new.default_scope}
    row = await s.get(PortalSetting, KEY)
    if row is None:
        s.add(PortalSetting(key=KEY, value=value))
    else:
        row.value = value
    await record(
        s,
        kind="setting_changed",
        subject=f"setting:{KEY}",
        at=utcnow(),
        detail={"by": principal.subject_id, "reset": reset, **value},
    )
    return new
