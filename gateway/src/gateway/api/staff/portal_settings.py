"""Staff JSON API for the portal settings (SPEC P5): whether new customers are always invited."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import problems

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
