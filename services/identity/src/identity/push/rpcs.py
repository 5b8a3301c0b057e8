"""Web push (X7): the signed-in portal user's VAPID key, opt-in and subscriptions. Proto ⇄ domain only."""

from __future__ import annotations

from identity.push import service as push
from identity.push.protos import preferences_from_proto, preferences_to_proto, subscription_to_proto
from identity.push.sender import VapidKey
from identity.rpcs import Rpcs
from portal.identity.v1 import identity_pb2
from servicekit.errors import FailedPrecondition
from servicekit.principal import current_principal


class PushRpcs(Rpcs):
    vapid: VapidKey | None
    push_insecure_hosts: frozenset[str]

    async def GetPushSettings(self, request: identity_pb2.GetPushSettingsRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.sessions() as s:
            prefs, subs = await push.get_settings(s, principal=principal)
        return identity_pb2.GetPushSettingsResponse(
            vapid_public_key=self.vapid.public_key() if self.vapid else "",
            preferences=preferences_to_proto(prefs),
            subscriptions=[subscription_to_proto(sub) for sub in subs],
        )

    async def SetPushPreferences(self, request: identity_pb2.SetPushPreferencesRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            prefs = await push.set_preferences(
                s, principal=principal, wanted=preferences_from_proto(request.preferences)
            )
        return identity_pb2.SetPushPreferencesResponse(preferences=preferences_to_proto(prefs))

    async def AddPushSubscription(self, request: identity_pb2.AddPushSubscriptionRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        if self.vapid is None:
            raise FailedPrecondition("web push is not configured on this portal")

        async def work(s):  # noqa: ANN001, ANN202
            sub = await push.add_subscription(
                s,
                principal=principal,
                endpoint=request.endpoint,
                p256dh=request.p256dh,
                auth=request.auth,
                user_agent=request.user_agent,
                insecure_hosts=self.push_insecure_hosts,
            )
            return subscription_to_proto(sub)

        # Two tabs subscribing the same browser at once race on the endpoint's uniqueness: the second run updates.
        return identity_pb2.AddPushSubscriptionResponse(subscription=await self._write(work))

    async def RemovePushSubscription(self, request: identity_pb2.RemovePushSubscriptionRequest, context):  # noqa: N802, ANN001
        principal = current_principal()
        async with self.db.unit_of_work() as s:
            await push.remove_subscription(s, principal=principal, subscription_id=request.subscription_id)
        return identity_pb2.RemovePushSubscriptionResponse()
