"""The off switch (SPEC P8), branding (P12) and the renewal notice's lead time (P7): global portal settings kept
as portal_settings rows. Functions never commit; the caller's unit of work does."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit.service import record
from identity.db import utcnow
from identity.events import publish
from identity.settings.models import PortalSetting
from servicekit.errors import InvalidArgument
from servicekit.principal import Principal, require_admin

KEY = "portal_controls"
MAX_URL = 500
MAX_NAME = 100
MAX_NOTICE_DAYS = 365
# A host (and port) that can be written into a Content-Security-Policy header as it is.
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::\d{1,5})?$")
# A same-origin path: printable ASCII without spaces, quotes, angle brackets or backslashes.
_UNSAFE = set("\"'<>\\`")
_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9._~!$&()*+,;=:@%/?-]*$")


@dataclass(frozen=True)
class Controls:
    disabled: bool = False
    redirect_url: str = ""
    operator_name: str = ""
    logo_url: str = ""
    custom_css_url: str = ""
    renewal_notice_days: int = 0


async def get_controls(s: AsyncSession) -> Controls:
    row = await s.get(PortalSetting, KEY)
    if row is None:
        return Controls()
    known = {k: v for k, v in row.value.items() if k in Controls.__dataclass_fields__}
    return Controls(**known)


def _absolute(value: str, *, field: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname or not _HOST.match(parts.netloc):
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise InvalidArgument(f"must be an {allowed} address with a host name, e.g. https://example.com/", field=field)
    return value


def asset_url(value: str, *, field: str) -> str:
    """A logo or stylesheet address: https:// (no user name or password in it) or a same-origin path."""
    value = value.strip()
    if not value:
        return ""
    if len(value) > MAX_URL:
        raise InvalidArgument(f"at most {MAX_URL} characters", field=field)
    if any(ord(c) < 0x21 or ord(c) > 0x7E or c in _UNSAFE for c in value):
        raise InvalidArgument("must not contain spaces, quotes, <, >, \\ or non-ASCII characters", field=field)
    if value.startswith("/"):
        if not _PATH.match(value):
            raise InvalidArgument("a path must start with a single / and hold only URL characters", field=field)
        return value
    return _absolute(value, field=field, schemes=("https",))


def redirect_url(value: str, *, field: str = "redirect_url", portal_url: str = "") -> str:
    """Where a switched-off portal sends its visitors: an http(s) address on another site than the portal's own
    (the portal's own address would send every visit round in a loop)."""
    value = value.strip()
    if len(value) > MAX_URL:
        raise InvalidArgument(f"at most {MAX_URL} characters", field=field)
    if any(ord(c) < 0x21 or ord(c) > 0x7E or c in _UNSAFE for c in value):
        raise InvalidArgument("must not contain spaces, quotes, <, >, \\ or non-ASCII characters", field=field)
    value = _absolute(value, field=field, schemes=("https", "http"))
    if portal_url and urlsplit(value).netloc.lower() == urlsplit(portal_url).netloc.lower():
        raise InvalidArgument(
            "this is the portal's own address: every visit would be sent round in a loop; give another site",
            field=field,
        )
    return value


def operator_name(value: str) -> str:
    value = " ".join(value.split())
    if len(value) > MAX_NAME:
        raise InvalidArgument(f"at most {MAX_NAME} characters", field="operator_name")
    return value


async def update_controls(
    s: AsyncSession,
    *,
    principal: Principal,
    off_switch: tuple[bool, str] | None = None,
    branding: tuple[str, str, str] | None = None,
    renewal_notice_days: int | None = None,
    portal_url: str = "",
) -> Controls:
    """Change the parts given; the others stay as they are (admins only, SPEC S1). Every change is audited."""
    require_admin(principal, "change the portal controls")
    current = await get_controls(s)
    new = current
    if off_switch is not None:
        disabled, url = off_switch
        if disabled and not url.strip():
            raise InvalidArgument("the address to send portal visitors to is required", field="redirect_url")
        target = redirect_url(url, portal_url=portal_url) if url.strip() else ""
        new = replace(new, disabled=disabled, redirect_url=target)
    if branding is not None:
        name, logo, css = branding
        new = replace(
            new,
            operator_name=operator_name(name),
            logo_url=asset_url(logo, field="logo_url"),
            custom_css_url=asset_url(css, field="custom_css_url"),
        )
    if renewal_notice_days is not None:
        if not 0 <= renewal_notice_days <= MAX_NOTICE_DAYS:
            raise InvalidArgument(f"from 0 to {MAX_NOTICE_DAYS} days", field="renewal_notice_days")
        new = replace(new, renewal_notice_days=renewal_notice_days)
    row = await s.get(PortalSetting, KEY)
    if row is None:
        s.add(PortalSetting(key=KEY, value=asdict(new)))
    else:
        row.value = asdict(new)
    changed = {k: v for k, v in asdict(new).items() if getattr(current, k) != v}
    if "renewal_notice_days" in changed:
        # Every session's renewal notice (ResolveSession's renewal_notice_ends_on) may change.
        await publish.sessions_changed(s, "portal_controls", all_sessions=True)
    await record(
        s, kind="setting_changed", subject=f"setting:{KEY}", at=utcnow(), detail={"by": principal.subject_id, **changed}
    )
    return new
