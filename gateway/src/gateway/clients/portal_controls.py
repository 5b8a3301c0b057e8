"""Identity's portal controls (SPEC P7, P8, P9, P12) and email templates, on the identity channel."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from gateway.clients._call import Caller
from portal.identity.v1 import identity_pb2, identity_pb2_grpc


@dataclass(frozen=True, slots=True)
class HomeLayout:
    """SPEC H3: the home's keys in order, each enabled or not, and the default list scope ("all" or "mine").
    Empty items (identity not read yet, or down) means the gateway's default order, everything enabled."""

    items: tuple[tuple[str, bool], ...] = ()
    default_scope: str = "all"

    @classmethod
    def from_proto(cls, m: identity_pb2.HomeLayout) -> HomeLayout:
        return cls(tuple((i.key, i.enabled) for i in m.items), m.default_scope or "all")

    def to_proto(self) -> identity_pb2.HomeLayout:
        return identity_pb2.HomeLayout(
            items=[identity_pb2.HomeLayoutItem(key=k, enabled=e) for k, e in self.items],
            default_scope=self.default_scope,
        )


@dataclass(frozen=True, slots=True)
class PortalControls:
    disabled: bool = False
    redirect_url: str = ""
    operator_name: str = ""
    logo_url: str = ""
    custom_css_url: str = ""
    renewal_notice_days: int = 0
    home_layout: HomeLayout = HomeLayout()

    @classmethod
    def from_proto(cls, c: identity_pb2.PortalControls) -> PortalControls:
        return cls(
            disabled=c.off_switch.disabled,
            redirect_url=c.off_switch.redirect_url,
            operator_name=c.branding.operator_name,
            logo_url=c.branding.logo_url,
            custom_css_url=c.branding.custom_css_url,
            renewal_notice_days=c.renewal_notice_days,
            home_layout=HomeLayout.from_proto(c.home_layout),
        )


class PortalControlsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self._call = Caller("identity", timeout)

    async def get(self, *, deadline: float | None = None) -> PortalControls:
        resp = await self._call(
            self._stub.GetPortalControls, identity_pb2.GetPortalControlsRequest(), None, deadline=deadline
        )
        return PortalControls.from_proto(resp.controls)

    async def update(
        self,
        token: str,
        *,
        off_switch: tuple[bool, str] | None = None,
        branding: tuple[str, str, str] | None = None,
        renewal_notice_days: int | None = None,
    ) -> PortalControls:
        """Change one part: the off switch (disabled, redirect URL), the branding (operator name, logo URL, custom
        stylesheet URL) or the renewal notice's lead time; what is left out stays as it is."""
        req = identity_pb2.UpdatePortalControlsRequest()
        if off_switch is not None:
            req.off_switch.CopyFrom(identity_pb2.PortalOffSwitch(disabled=off_switch[0], redirect_url=off_switch[1]))
        if branding is not None:
            req.branding.CopyFrom(
                identity_pb2.PortalBranding(operator_name=branding[0], logo_url=branding[1], custom_css_url=branding[2])
            )
        if renewal_notice_days is not None:
            req.renewal_notice_days = renewal_notice_days
        return PortalControls.from_proto((await self._call(self._stub.UpdatePortalControls, req, token)).controls)

    async def home_layout(self, token: str) -> HomeLayout:
        """Staff only: the layout with every key identity knows."""
        resp = await self._call(self._stub.GetHomeLayout, identity_pb2.GetHomeLayoutRequest(), token)
        return HomeLayout.from_proto(resp.layout)

    async def update_home_layout(self, token: str, layout: HomeLayout | None) -> HomeLayout:
        """Admins only: store `layout`, or put the default back when it is None."""
        req = identity_pb2.UpdateHomeLayoutRequest(reset=True)
        if layout is not None:
            req = identity_pb2.UpdateHomeLayoutRequest(layout=layout.to_proto())
        return HomeLayout.from_proto((await self._call(self._stub.UpdateHomeLayout, req, token)).layout)

    async def set_support_window(self, token: str, *, contact_id: str, start: str, end: str) -> identity_pb2.Contact:
        req = identity_pb2.SetSupportWindowRequest(contact_id=contact_id, support_start=start, support_end=end)
        return (await self._call(self._stub.SetSupportWindow, req, token)).contact

    async def set_admin_override(self, token: str, *, portal_user_id: str, on: bool) -> identity_pb2.PortalUser:
        req = identity_pb2.SetAdminOverrideRequest(portal_user_id=portal_user_id, admin_override=on)
        return (await self._call(self._stub.SetAdminOverride, req, token)).portal_user

    async def list_email_templates(self, token: str) -> list[identity_pb2.EmailTemplate]:
        req = identity_pb2.ListEmailTemplatesRequest()
        return list((await self._call(self._stub.ListEmailTemplates, req, token)).templates)

    async def update_email_template(
        self, token: str, *, name: str, language: str, subject: str, body: str
    ) -> identity_pb2.EmailTemplate:
        req = identity_pb2.UpdateEmailTemplateRequest(name=name, language=language, subject=subject, body=body)
        return (await self._call(self._stub.UpdateEmailTemplate, req, token)).template

    async def reset_email_template(self, token: str, *, name: str, language: str) -> identity_pb2.EmailTemplate:
        req = identity_pb2.ResetEmailTemplateRequest(name=name, language=language)
        return (await self._call(self._stub.ResetEmailTemplate, req, token)).template

    async def send_login_details(self, token: str, *, portal_user_id: str, language: str) -> None:
        req = identity_pb2.SendLoginDetailsRequest(portal_user_id=portal_user_id, language=language)
        await self._call(self._stub.SendLoginDetails, req, token)
