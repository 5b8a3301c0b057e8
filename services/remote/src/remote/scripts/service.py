"""The script catalogue: validation, staff CRUD, the portal's view, and idempotency keys of any creation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from remote.scripts.models import LANGUAGES, IdempotencyKey, Script
from servicekit.db import new_id, utcnow
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from servicekit.permissions import ASSETS_RUN_SCRIPT
from servicekit.principal import Principal

VARIABLE_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MAX_BODY_BYTES = 64 * 1024
DEFAULT_TIMEOUT = 300
MAX_TIMEOUT = 3600
MAX_VARIABLES = 50


@dataclass(frozen=True)
class Variable:
    name: str
    label: str = ""
    default_value: str = ""
    required: bool = False


@dataclass(frozen=True)
class ScriptFields:
    name: str
    language: str
    body: str
    variables: list[Variable]
    timeout_seconds: int
    portal: bool
    portal_name: str
    portal_confirmation: str


def validate(f: ScriptFields) -> ScriptFields:
    name = f.name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidArgument("the name must be 1 to 200 characters", field="name")
    if f.language not in LANGUAGES:
        raise InvalidArgument("language must be shell or python", field="language")
    if not f.body.strip():
        raise InvalidArgument("the script body must not be empty", field="body")
    if len(f.body.encode()) > MAX_BODY_BYTES:
        raise InvalidArgument("the script body is at most 64 KiB", field="body")
    if len(f.variables) > MAX_VARIABLES:
        raise InvalidArgument(f"at most {MAX_VARIABLES} variables", field="variables")
    seen: set[str] = set()
    for v in f.variables:
        if not VARIABLE_NAME.match(v.name):
            raise InvalidArgument(
                f"variable name {v.name[:70]!r} must be an environment variable name: A-Z, 0-9 and _, "
                "not starting with a digit, at most 64 characters",
                field="variables",
            )
        if v.name in seen:
            raise InvalidArgument(f"variable {v.name} is named twice", field="variables")
        seen.add(v.name)
        if len(v.label) > 200 or len(v.default_value) > 4000:
            raise InvalidArgument(f"variable {v.name}: label or default too long", field="variables")
    timeout = f.timeout_seconds or DEFAULT_TIMEOUT
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise InvalidArgument(f"timeout_seconds must be 1 to {MAX_TIMEOUT}", field="timeout_seconds")
    portal_name, confirmation = f.portal_name.strip(), f.portal_confirmation.strip()
    if f.portal:
        if not portal_name:
            raise InvalidArgument("a portal script needs its self-service name", field="portal_name")
        if not confirmation:
            raise InvalidArgument("a portal script needs its confirmation text", field="portal_confirmation")
    if len(portal_name) > 200 or len(confirmation) > 2000:
        raise InvalidArgument("the portal name or confirmation is too long", field="portal_name")
    return ScriptFields(name, f.language, f.body, list(f.variables), timeout, f.portal, portal_name, confirmation)


def variables_of(script: Script) -> list[Variable]:
    return [Variable(**v) for v in script.variables or []]


def portal_runnable(script: Script) -> bool:
    return script.portal and not script.variables


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise PermissionDenied("only staff may do this")


def require_portal_runner(principal: Principal) -> None:
    if not principal.is_staff and ASSETS_RUN_SCRIPT not in principal.permissions:
        raise PermissionDenied("your portal group does not allow running scripts (Assets - Run Script)")


def principal_key(principal: Principal) -> str:
    return f"{principal.kind}:{principal.subject_id}"


async def remembered(s: AsyncSession, principal: Principal, scope: str, key: str) -> str | None:
    if not key:
        return None
    if len(key) > 200:
        raise InvalidArgument("idempotency_key is at most 200 characters", field="idempotency_key")
    row = (
        await s.execute(
            select(IdempotencyKey.result_id).where(
                IdempotencyKey.principal == principal_key(principal),
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
            )
        )
    ).first()
    return row.result_id if row else None


async def remember(s: AsyncSession, principal: Principal, scope: str, key: str, result_id: str) -> None:
    """Record the key in the caller's unit of work; a concurrent twin fails that unit of work at commit or here
    (IntegrityError), and the caller answers what the twin made."""
    if key:
        s.add(
            IdempotencyKey(
                principal=principal_key(principal), scope=scope, key=key, result_id=result_id, created_at=utcnow()
            )
        )
        await s.flush()


async def forget(s: AsyncSession, principal: Principal, scope: str, key: str) -> None:
    row = (
        await s.execute(
            select(IdempotencyKey).where(
                IdempotencyKey.principal == principal_key(principal),
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
            )
        )
    ).scalar_one_or_none()
    if row is not None:
        await s.delete(row)


async def create(s: AsyncSession, f: ScriptFields) -> Script:
    f = validate(f)
    now = utcnow()
    script = Script(id=new_id(), created_at=now, updated_at=now)
    _apply(script, f)
    s.add(script)
    await s.flush()
    return script


async def update(s: AsyncSession, script_id: str, f: ScriptFields) -> Script:
    f = validate(f)
    script = await get(s, script_id)
    _apply(script, f)
    script.updated_at = utcnow()
    await s.flush()
    return script


def _apply(script: Script, f: ScriptFields) -> None:
    script.name = f.name
    script.language = f.language
    script.body = f.body
    script.variables = [v.__dict__ for v in f.variables]
    script.timeout_seconds = f.timeout_seconds
    script.portal = f.portal
    script.portal_name = f.portal_name
    script.portal_confirmation = f.portal_confirmation


async def get(s: AsyncSession, script_id: str) -> Script:
    script = await s.get(Script, script_id) if script_id else None
    if script is None:
        raise NotFound("no such script", field="script_id")
    return script


async def get_for(s: AsyncSession, principal: Principal, script_id: str) -> Script:
    """Staff: any script. Portal: only a runnable portal script (others are NOT_FOUND), with the permission."""
    if principal.is_staff:
        return await get(s, script_id)
    require_portal_runner(principal)
    script = await s.get(Script, script_id) if script_id else None
    if script is None or not portal_runnable(script):
        raise NotFound("no such script", field="script_id")
    return script


async def delete(s: AsyncSession, script_id: str) -> None:
    await s.delete(await get(s, script_id))


async def list_scripts(s: AsyncSession, principal: Principal, *, portal_only: bool) -> list[Script]:
    if not principal.is_staff:
        require_portal_runner(principal)
        portal_only = True
    rows = (await s.execute(select(Script).order_by(Script.name, Script.id))).scalars()
    return [r for r in rows if not portal_only or portal_runnable(r)]


def check_variables(script: Script, given: dict[str, str]) -> dict[str, str]:
    """The environment for a run: unknown names and missing required ones are INVALID_ARGUMENT; defaults fill
    the rest."""
    declared = {v.name: v for v in variables_of(script)}
    for name, value in given.items():
        if name not in declared:
            raise InvalidArgument(f"the script has no variable {name[:70]!r}", field="variables")
        if len(value) > 4000 or "\x00" in value:
            raise InvalidArgument(f"variable {name}: too long or contains a NUL", field="variables")
    env = {}
    for name, v in declared.items():
        value = given.get(name, v.default_value)
        if v.required and not value:
            raise InvalidArgument(f"variable {name} is required", field="variables")
        env[name] = value
    return env
