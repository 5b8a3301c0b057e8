"""Staff JSON API for the portal controls (SPEC P7, P8, P9, P12) and the configurable emails (P2, P3):
off switch, branding, renewal notice, a contact's support window, a portal user's admin override, the
invitation / password reset / login details templates per language, and sending login details.

Staff sessions only (403 otherwise); identity enforces the same rule itself."""

from __future__ import annotations

from typing import Annotated, Literal

import grpc
from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.deps import StaffApiSession
from gateway.api.docs import problems
from gateway.api.staff.access import PortalUser
from gateway.clients.identity import EmailTemplateMessage
from gateway.clients.portal_controls import PortalControls, PortalControlsClient
from gateway.edge.errors import Kind, Problem, split_field
from gateway.edge.portal_controls import controls_cache

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: portal controls"],
    responses=problems(400, 401, 403, 404, 409, 422, 503),
)
Id = Annotated[str, Path(min_length=1, max_length=36)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
TemplateName = Literal["invitation", "password_reset", "login_details", "payment_receipt"]
Language = Literal["en", "fr"]
UNPROCESSABLE = Kind(422, "invalid-template", "The template cannot be used")


def _client(request: Request) -> PortalControlsClient:
    return request.app.state.backends.portal_controls


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


async def _update(request: Request, session, **change: object) -> Controls:  # noqa: ANN001
    controls = await _client(request).update(session.principal_token, **change)
    # This replica shows the change at once; the others within the cache's few seconds.
    controls_cache(request.app).invalidate()
    return Controls.of(controls)


@router.get("/portal-controls")
async def get_controls(request: Request, session: StaffApiSession) -> Controls:
    """The off switch, the branding and the renewal notice's lead time."""
    return Controls.of(await _client(request).get())


@router.put("/portal-controls/off-switch")
async def put_off_switch(body: OffSwitch, request: Request, session: StaffApiSession) -> Controls:
    """SPEC P8: switch the portal off (every portal page redirects to `redirect_url`) or on again."""
    return await _update(request, session, off_switch=(body.disabled, body.redirect_url))


@router.put("/portal-controls/branding")
async def put_branding(body: Branding, request: Request, session: StaffApiSession) -> Controls:
    """SPEC P12: the operator's name and logo in the header, and an optional custom stylesheet."""
    return await _update(request, session, branding=(body.operator_name, body.logo_url, body.custom_css_url))


@router.put("/portal-controls/renewal-notice")
async def put_renewal_notice(body: RenewalNotice, request: Request, session: StaffApiSession) -> Controls:
    """SPEC P7: from how many days before a contact's support end date the portal shows a renewal notice."""
    return await _update(request, session, renewal_notice_days=body.days)


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
    contact_id: Id, body: SupportWindow, request: Request, session: StaffApiSession
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
    portal_user_id: Id, body: AdminOverride, request: Request, session: StaffApiSession
) -> PortalUserOverride:
    """SPEC P9: a contact's portal user sees the whole customer (All) wherever its group lets it see; nothing else
    widens."""
    u = await _client(request).set_admin_override(
        session.principal_token, portal_user_id=portal_user_id, on=body.admin_override
    )
    return PortalUserOverride(**PortalUser.of(u).model_dump())


# --- email templates (SPEC P2, P3) -------------------------------------------------------------------


class EmailTemplate(BaseModel):
    name: str
    language: str
    subject: str
    body: str
    customised: bool
    placeholders: list[str]

    @classmethod
    def of(cls, t: EmailTemplateMessage) -> EmailTemplate:
        return cls(
            name=t.name,
            language=t.language,
            subject=t.subject,
            body=t.body,
            customised=t.customised,
            placeholders=list(t.placeholders),
        )


class TemplateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


@router.get("/email-templates")
async def list_templates(request: Request, session: StaffApiSession) -> list[EmailTemplate]:
    """Every template in every language, with its placeholders; `customised: false` is the default text."""
    return [EmailTemplate.of(t) for t in await _client(request).list_email_templates(session.principal_token)]


@router.put("/email-templates/{name}/{language}", response_model=EmailTemplate)
async def put_template(
    name: TemplateName, language: Language, body: TemplateBody, request: Request, session: StaffApiSession
) -> EmailTemplate | Response:
    """Jinja2 text with `{{ placeholder }}`s; an unknown placeholder or a syntax error is 422 naming it."""
    try:
        t = await _client(request).update_email_template(
            session.principal_token, name=name, language=language, subject=body.subject, body=body.body
        )
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        field, detail = split_field(err.details() or "")
        problem = Problem(UNPROCESSABLE, f"{field}: {detail}" if field else detail)
        if field:
            problem.errors = [{"field": field, "message": detail}]
        return problem.response()
    return EmailTemplate.of(t)


@router.delete("/email-templates/{name}/{language}")
async def reset_template(
    name: TemplateName, language: Language, request: Request, session: StaffApiSession
) -> EmailTemplate:
    """Back to the default text."""
    t = await _client(request).reset_email_template(session.principal_token, name=name, language=language)
    return EmailTemplate.of(t)


class LoginDetails(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Language = "en"


@router.post("/portal-users/{portal_user_id}/login-details", status_code=status.HTTP_204_NO_CONTENT)
async def send_login_details(
    portal_user_id: Id, body: LoginDetails, request: Request, session: StaffApiSession
) -> Response:
    """Email the user its login and the portal's address with the login details template (never a password)."""
    await _client(request).send_login_details(
        session.principal_token, portal_user_id=portal_user_id, language=body.language
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
