"""Global portal settings ("always invite new customers"): proto ⇄ domain only."""

from __future__ import annotations

from identity.rpcs import Rpcs
from identity.settings import service as portal_settings
from portal.identity.v1 import identity_pb2
from servicekit.principal import current_principal


class PortalSettingsRpcs(Rpcs):
    async def GetPortalSettings(self, request: identity_pb2.GetPortalSettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            on = await portal_settings.read_always_invite(s, principal=principal)
        return identity_pb2.GetPortalSettingsResponse(
            settings=identity_pb2.PortalSettings(always_invite_new_customers=on)
        )

    async def UpdatePortalSettings(self, request: identity_pb2.UpdatePortalSettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await portal_settings.set_always_invite(
                s, principal=principal, on=request.settings.always_invite_new_customers
            )
            on = await portal_settings.always_invite(s)
        return identity_pb2.UpdatePortalSettingsResponse(
            settings=identity_pb2.PortalSettings(always_invite_new_customers=on)
        )
