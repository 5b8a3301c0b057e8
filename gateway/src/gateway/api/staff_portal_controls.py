"""Staff JSON API for the portal controls (SPEC P7, P8, P9, P12): off switch, branding, renewal notice, a
contact's support window, a portal user's admin override.

Staff sessions only (403 otherwise); identity enforces the same rule itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.errors import PROBLEM_MEDIA_TYPE
from gateway.api.staff_identity import PortalUser, StaffSession
from gateway.clients.portal_controls import PortalControls, PortalControlsClient
from gateway.portal_controls import controls_cache
from portal.identity.v1 import identity_pb2

_PROBLEM = {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {}}}
router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: portal controls"],
    responses={code: _PROBLEM for code in (400, 401, 403, 404, 409, 503)},
)
Id = Annotated[str, Path(min_length=1, max_length=36)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def _client(request: Request) -> PortalControlsClient:
    client = getattr(request.app.state, "portal_controls_client", None)
    if client is None:
        settings = request.app.state.settings
        client = PortalControlsClient(request.app.state.backends.channels["identity"], settings.backend_timeout_seconds)
        request.app.state.portal_controls_client = client
    return client


class OffSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool
    redirect_url: Url = Field("", description="Where every portal visit goes while disabled (http:// or https://).")


class Branding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    logo_url: Url = Field("", description="https:// or a same-origin path such as /static/logo.svg")
    custom_css_url: Url = Field("", description="https:// or a same-origin path; loaded after the portal's CSS")


class RenewalNotice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=0, le=365, description="Show the notice from this many days before a support end date")


class Controls(BaseModel):
    off_switch: OffSwitch
    branding: Branding
    renewal_notice: RenewalNotice

    @classmethod
    def of(cls, c: PortalControls) -> Controls:
        return cls(
            off_switch=OffSwitch(disabled=c.disabled, redirect_url=c.redirect_url),
            branding=Branding(operator_name=c.operator_name, logo_url=c.logo_url, custom_css_url=c.custom_css_url),
            renewal_notice=RenewalNotice(days=c.renewal_notice_days),
        )


async def _update(request: Request, session, req: identity_pb2.UpdatePortalControlsRequest) -> Controls:  # noqa: ANN001
    controls = await _client(request).update(session.principal_token, req)
    # This replica shows the change at once; the others within the cache's few seconds.
    controls_cache(request.app).invalidate()
    return Controls.of(controls)


@router.get("/portal-controls")
async def get_controls(request: Request, session: StaffSession) -> Controls:
    """The off switch, the branding and the renewal notice's lead time."""
    return Controls.of(await _client(request).get())


@router.put("/portal-controls/off-switch")
async def put_off_switch(body: OffSwitch, request: Request, session: StaffSession) -> Controls:
    """SPEC P8: switch the portal off (every portal page redirects to `redirect_url`) or on again."""
    req = identity_pb2.UpdatePortalControlsRequest(
        off_switch=identity_pb2.PortalOffSwitch(disabled=body.disabled, redirect_url=body.redirect_url)
    )
    return await _update(request, session, req)


@router.put("/portal-controls/branding")
async def put_branding(body: Branding, request: Request, session: StaffSession) -> Controls:
    """SPEC P12: the operator's name and logo in the header, and an optional custom stylesheet."""
    req = identity_pb2.UpdatePortalControlsRequest(
        branding=identity_pb2.PortalBranding(
            operator_name=body.operator_name, logo_url=body.logo_url, custom_css_url=body.custom_css_url
        )
    )
    return await _update(request, session, req)


@router.put("/portal-controls/renewal-notice")
async def put_renewal_notice(body: RenewalNotice, request: Request, session: StaffSession) -> Controls:
    """SPEC P7: from how many days before a contact's support end date the portal shows a renewal notice."""
    return await _update(request, session, identity_pb2.UpdatePortalControlsRequest(renewal_notice_days=body.days))


class SupportWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    support_start: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] = Field(
        "", description="YYYY-MM-DD (UTC), empty for none"
    )
    support_end: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] = Field(
        "", description="YYYY-MM-DD (UTC), inclusive; empty for none"
    )


class ContactWindow(SupportWindow):
    id: str
    customer_id: str
    name: str


@router.put("/contacts/{contact_id}/support-window")
async def put_support_window(
    contact_id: Id, body: SupportWindow, request: Request, session: StaffSession
) -> ContactWindow:
    """SPEC P7: the contact's portal access works only between these dates (inclusive, UTC); a live session ends
    within seconds once the window closes."""
    c = await _client(request).set_support_window(
        session.principal_token, contact_id=contact_id, start=body.support_start, end=body.support_end
    )
    return ContactWindow(
        id=c.id, customer_id=c.customer_id, name=c.name, support_start=c.support_start, support_end=c.support_end
    )


class AdminOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admin_override: bool


class PortalUserOverride(PortalUser):
    admin_override: bool


@router.put("/portal-users/{portal_user_id}/admin-override")
async def put_admin_override(
    portal_user_id: Id, body: AdminOverride, request: Request, session: StaffSession
) -> PortalUserOverride:
    """SPEC P9: a contact's portal user sees the whole customer (All) wherever its group lets it see; nothing else
    widens."""
    u = await _client(request).set_admin_override(
        session.principal_token, portal_user_id=portal_user_id, on=body.admin_override
    )
    return PortalUserOverride(**PortalUser.of(u).model_dump(), admin_override=u.admin_override)
