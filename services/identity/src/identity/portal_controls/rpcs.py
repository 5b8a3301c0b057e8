"""The portal controls (SPEC P7, P8, P9, P12): off switch, branding, support windows, admin override. Proto ⇄
domain only."""

from __future__ import annotations

from identity.contacts.protos import contact_to_proto
from identity.groups.models import PermissionGroup
from identity.portal_controls import admin_override, home_layout, support_window
from identity.portal_controls.protos import controls_to_proto, layout_to_proto
from identity.portal_controls.service import get_controls, update_controls
from identity.rpcs import Rpcs
from identity.users.protos import portal_user_to_proto
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class PortalControlsRpcs(Rpcs):
    async def GetPortalControls(self, request: identity_pb2.GetPortalControlsRequest, context):  # noqa: N802, ANN001
        async with self.db.sessions() as s:
            controls = await get_controls(s)
            layout = await home_layout.get_layout(s)
        return identity_pb2.GetPortalControlsResponse(controls=controls_to_proto(controls, layout))

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
            layout = await home_layout.get_layout(s)
        return identity_pb2.UpdatePortalControlsResponse(controls=controls_to_proto(controls, layout))

    async def GetHomeLayout(self, request: identity_pb2.GetHomeLayoutRequest, context):  # noqa: N802, ANN001
        home_layout.require_staff(current_principal())
        async with self.db.sessions() as s:
            layout = await home_layout.get_layout(s)
        return identity_pb2.GetHomeLayoutResponse(layout=layout_to_proto(layout))

    async def UpdateHomeLayout(self, request: identity_pb2.UpdateHomeLayoutRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        items = [(i.key, i.enabled) for i in request.layout.items]
        async with self.db.unit_of_work() as s:
            layout = await home_layout.update_layout(
                s,
                principal=principal,
                items=items,
                default_scope=request.layout.default_scope or "all",
                reset=request.reset,
            )
        return identity_pb2.UpdateHomeLayoutResponse(layout=layout_to_proto(layout))

    async def SetSupportWindow(self, request: identity_pb2.SetSupportWindowRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            contact = await support_window.set_support_window(
                s,
                principal=principal,
                contact_id=request.contact_id,
                start=request.support_start,
                end=request.support_end,
            )
            return identity_pb2.SetSupportWindowResponse(contact=contact_to_proto(contact))

    async def SetAdminOverride(self, request: identity_pb2.SetAdminOverrideRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            user = await admin_override.set_admin_override(
                s, principal=principal, portal_user_id=request.portal_user_id, on=request.admin_override
            )
            group = await s.get(PermissionGroup, user.group_id)
            return identity_pb2.SetAdminOverrideResponse(portal_user=portal_user_to_proto(user, group))
