"""Web push (X7) in the portal's JSON API: the caller's VAPID key, opt-in per kind and subscribed browsers. Only a
portal user's session has them (a staff session or a secure link gets 403); another user's subscription id is 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response, status

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import problems
from gateway.areas import push as rules
from gateway.clients.schemas import PushDevice, PushPreferences, PushSettings

router = APIRouter(prefix="/api/v1/notifications/push", tags=["notifications"], responses=problems(401, 403, 503))

SubscriptionId = Annotated[str, Path(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Optional: adding a subscription is idempotent by its endpoint, so a retry (with or without the "
        "same key) answers the same subscription.",
    ),
]


@router.get("")
async def get_push(session: CurrentSession, backends: Clients) -> PushSettings:
    """The VAPID public key to subscribe with (empty when push is off on this portal), which kinds of notification
    you turned on (all off by default) and your subscribed browsers."""
    return await backends.identity.get_push_settings(session.principal_token)


@router.put("/preferences", responses=problems(400))
async def set_preferences(body: PushPreferences, session: CurrentSession, backends: Clients) -> PushPreferences:
    """Turn kinds of push notification on or off (every kind given; a kind left out is off). Idempotent."""
    return await backends.identity.set_push_preferences(session.principal_token, body)


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, responses=problems(400, 409))
async def add_subscription(
    body: rules.Subscription,
    request: Request,
    session: CurrentSession,
    backends: Clients,
    idempotency_key: IdempotencyKey = None,  # noqa: ARG001 - accepted; the endpoint is the natural key
) -> PushDevice:
    """Subscribe a browser: the body is its `PushSubscription.toJSON()`. The endpoint must be an https URL of a push
    service on the internet. The same endpoint again updates the subscription instead of adding one."""
    return await backends.identity.add_push_subscription(
        session.principal_token,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        user_agent=rules.user_agent(request.headers.get("user-agent")),
    )


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def remove_subscription(subscription_id: SubscriptionId, session: CurrentSession, backends: Clients) -> Response:
    """Unsubscribe one of your browsers; it gets no more notifications. Idempotent only in effect: a second call is
    404."""
    await backends.identity.remove_push_subscription(session.principal_token, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
