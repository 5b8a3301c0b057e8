"""Staff JSON API for the portal settings (SPEC P5): whether new customers are always invited; and identity's audit
log (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.clients.schemas import AuditEntry

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: identity"],
    responses=problems(400, 401, 403, 404, 409, 503),
)


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    always_invite_new_customers: bool


@router.get("/settings")
async def get_settings(session: StaffApiSession, backends: Clients) -> PortalSettings:
    s = await backends.identity.get_portal_settings(session.principal_token)
    return PortalSettings(always_invite_new_customers=s.always_invite_new_customers)


@router.put("/settings")
async def put_settings(body: PortalSettings, session: StaffApiSession, backends: Clients) -> PortalSettings:
    s = await backends.identity.update_portal_settings(
        session.principal_token, always_invite_new_customers=body.always_invite_new_customers
    )
    return PortalSettings(always_invite_new_customers=s.always_invite_new_customers)


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for older entries; null on the last page")
    kinds: list[str] = Field(description="Every kind the log can hold")


@router.get("/audit-log", summary="The audit log, newest first")
async def audit_log(
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    kind: Annotated[str, Query(max_length=40, description='One kind, e.g. "sign_in_failed"')] = "",
    subject: Annotated[str, Query(max_length=300, description="A piece of the subject, e.g. a login")] = "",
    since: Annotated[datetime | None, Query(description="Entries at or after this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Entries before this time (ISO 8601)")] = None,
) -> AuditPage:
    """Sign-ins and their failures, password and MFA changes, group changes …; an unknown kind is a 400 naming the
    known ones. Details never hold a password or a token."""
    page, kinds = await backends.identity.audit_log(
        session.principal_token,
        page_size=page_size,
        cursor=cursor,
        kind=kind,
        subject=subject,
        since=_aware(since),
        until=_aware(until),
    )
    return AuditPage(items=page.items, next_cursor=page.next_cursor, kinds=kinds)


def _aware(value: datetime | None) -> datetime | None:
    """A time without an offset is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
