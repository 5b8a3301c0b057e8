"""The portal-controls (SPEC P7, P8, P9, P12) and email-template RPCs, mixed into IdentityServicer: proto ⇄ domain
only."""

from __future__ import annotations

from identity.contacts.models import Contact
from identity.email_templates import service as email_templates
from identity.groups.models import PermissionGroup
from identity.passwords import service as passwords
from identity.portal_controls import admin_override, support_window
from identity.portal_controls.service import Controls, get_controls, update_controls
from identity.secrets import SecretBox
from identity.users.models import PortalUser
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.principal import KIND_PORTAL_USER, Principal, current_principal


def controls_to_proto(c: Controls) -> identity_pb2.PortalControls:
    return identity_pb2.PortalControls(
        off_switch=identity_pb2.PortalOffSwitch(disabled=c.disabled, redirect_url=c.redirect_url),
        branding=identity_pb2.PortalBranding(
            operator_name=c.operator_name, logo_url=c.logo_url, custom_css_url=c.custom_css_url
        ),
        renewal_notice_days=c.renewal_notice_days,
    )


def contact_window(c: Contact) -> dict[str, str]:
    return {
        "support_start": c.support_start.isoformat() if c.support_start else "",
        "support_end": c.support_end.isoformat() if c.support_end else "",
    }


async def renewal_notice_ends_on(s, principal: Principal) -> str:  # noqa: ANN001 - AsyncSession
    """The contact's support end date while the renewal notice should show (SPEC P7), else ""."""
    if principal.kind != KIND_PORTAL_USER or not principal.contact_id:
        return ""
    days = (await get_controls(s)).renewal_notice_days
    if days <= 0:
        return ""
    ends = support_window.renewal_notice(await s.get(Contact, principal.contact_id), support_window.today(), days)
    return ends.isoformat() if ends else ""


class PortalControlsRpcs:
    db: Database
    portal_url: str

    async def GetPortalControls(self, request: identity_pb2.GetPortalControlsRequest, context):  # noqa: N802, ANN001
        async with self.db.sessions() as s:
            controls = await get_controls(s)
        return identity_pb2.GetPortalControlsResponse(controls=controls_to_proto(controls))

    async def UpdatePortalControls(self, request: identity_pb2.UpdatePortalControlsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        off = branding = None
        if request.HasField("off_switch"):
            off = (request.off_switch.disabled, request.off_switch.redirect_url)
        if request.HasField("branding"):
            b = request.branding
            branding = (b.operator_name, b.logo_url, b.custom_css_url)
        days = request.renewal_notice_days if request.HasField("renewal_notice_days") else None
        async with self.db.unit_of_work() as s:
            controls = await update_controls(
                s,
                principal=principal,
                off_switch=off,
                branding=branding,
                renewal_notice_days=days,
                portal_url=self.portal_url,
            )
        return identity_pb2.UpdatePortalControlsResponse(controls=controls_to_proto(controls))

    async def SetSupportWindow(self, request: identity_pb2.SetSupportWindowRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            c = await support_window.set_support_window(
                s,
                principal=principal,
                contact_id=request.contact_id,
                start=request.support_start,
                end=request.support_end,
            )
            contact = identity_pb2.Contact(
                id=c.id,
                customer_id=c.customer_id,
                name=c.name,
                email=c.email,
                phone=c.phone,
                title=c.title,
                **contact_window(c),
            )
        return identity_pb2.SetSupportWindowResponse(contact=contact)

    async def SetAdminOverride(self, request: identity_pb2.SetAdminOverrideRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            user: PortalUser = await admin_override.set_admin_override(
                s, principal=principal, portal_user_id=request.portal_user_id, on=request.admin_override
            )
            group = await s.get(PermissionGroup, user.group_id)
            msg = identity_pb2.PortalUser(
                id=user.id,
                customer_id=user.customer_id,
                contact_id=user.contact_id or "",
                login=user.login,
                email=user.email,
                group_name=group.name if group else "",
                admin_override=user.admin_override,
            )
        return identity_pb2.SetAdminOverrideResponse(portal_user=msg)


def template_to_proto(t: email_templates.Template) -> identity_pb2.EmailTemplate:
    return identity_pb2.EmailTemplate(
        name=t.name,
        language=t.language,
        subject=t.subject,
        body=t.body,
        customised=t.customised,
        placeholders=list(t.placeholders),
    )


class EmailTemplateRpcs:
    db: Database
    box: SecretBox | None
    portal_url: str

    async def ListEmailTemplates(self, request: identity_pb2.ListEmailTemplatesRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            templates = await email_templates.list_templates(s, principal=principal)
        return identity_pb2.ListEmailTemplatesResponse(templates=[template_to_proto(t) for t in templates])

    async def UpdateEmailTemplate(self, request: identity_pb2.UpdateEmailTemplateRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            t = await email_templates.update_template(
                s,
                principal=principal,
                name=request.name,
                language=request.language,
                subject=request.subject,
                body=request.body,
            )
        return identity_pb2.UpdateEmailTemplateResponse(template=template_to_proto(t))

    async def ResetEmailTemplate(self, request: identity_pb2.ResetEmailTemplateRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            t = await email_templates.reset_template(
                s, principal=principal, name=request.name, language=request.language
            )
        return identity_pb2.ResetEmailTemplateResponse(template=template_to_proto(t))

    async def SendLoginDetails(self, request: identity_pb2.SendLoginDetailsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await passwords.send_login_details(
                s,
                principal=principal,
                portal_user_id=request.portal_user_id,
                portal_url=self.portal_url,
                box=self.box,
                language=request.language or "en",
            )
        return identity_pb2.SendLoginDetailsResponse()
