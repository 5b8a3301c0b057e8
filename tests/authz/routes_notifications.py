"""Web push (X7) in the authorisation matrix (see harness.py). Every signed-in portal user has its own notification
preferences and subscribed browsers; a subscription id is its maker's alone, so another user's (of another customer
in the matrix) is 404 on remove, over HTTP and over gRPC. The manifest, the service worker and the offline page are
public: they are the same for everyone and hold no one's data (docs/push.md)."""

from __future__ import annotations

import secrets

import grpc

from portal.identity.v1 import identity_pb2, identity_pb2_grpc
from portal_testkit.webpush import Browser
from tests.authz.harness import SIGNED_IN, Route

PUBLIC = {
    ("GET", "/manifest.webmanifest"),
    ("GET", "/sw.js"),
    ("GET", "/offline"),
}


def _subscription() -> dict[str, str]:
    """A browser's subscription to the test stack's allowed push host (nothing listens on port 9)."""
    browser = Browser.new()
    return {
        "endpoint": f"http://127.0.0.1:9/push/authz-{secrets.token_hex(8)}",
        "p256dh": browser.p256dh,
        "auth": browser.auth_b64,
    }


def _stub(addr, token: str):  # noqa: ANN001, ANN202
    channel = grpc.insecure_channel(addr("identity"), options=[("grpc.enable_http_proxy", 0)])
    return channel, identity_pb2_grpc.IdentityServiceStub(channel), (("authorization", f"Bearer {token}"),)


def _subscribe(world, session_token: str) -> str:  # noqa: ANN001
    channel, stub, md = _stub(world.grpc_addr, world.principal_token(session_token))
    with channel:
        resp = stub.AddPushSubscription(
            identity_pb2.AddPushSubscriptionRequest(**_subscription()), timeout=10, metadata=md
        )
    return resp.subscription.id


def make_subscription(world, customer) -> str:  # noqa: ANN001
    """A browser the customer's owner subscribed."""
    return _subscribe(world, world.owner(customer))


def make_subscription_as(world, customer, session_token: str) -> str:  # noqa: ANN001
    return _subscribe(world, session_token)


def grpc_settings(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.GetPushSettings(identity_pb2.GetPushSettingsRequest(), timeout=10, metadata=md)


def grpc_preferences(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        prefs = identity_pb2.PushPreferences(ticket_replies=True)
        stub.SetPushPreferences(identity_pb2.SetPushPreferencesRequest(preferences=prefs), timeout=10, metadata=md)


def grpc_subscribe(addr, token: str, _: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        stub.AddPushSubscription(identity_pb2.AddPushSubscriptionRequest(**_subscription()), timeout=10, metadata=md)


def grpc_remove(addr, token: str, subscription_id: str) -> None:  # noqa: ANN001
    channel, stub, md = _stub(addr, token)
    with channel:
        req = identity_pb2.RemovePushSubscriptionRequest(subscription_id=subscription_id)
        stub.RemovePushSubscription(req, timeout=10, metadata=md)


def _json_subscription() -> dict:
    sub = _subscription()
    return {"endpoint": sub["endpoint"], "keys": {"p256dh": sub["p256dh"], "auth": sub["auth"]}}


ROUTES = [
    Route("GET", "/account/notifications", SIGNED_IN, grpc=grpc_settings),
    Route("POST", "/account/notifications", SIGNED_IN, form={"ticket_replies": "on"}, ok_statuses=(303,)),
    Route("POST", "/account/notifications/devices", SIGNED_IN, form=_subscription(), grpc=grpc_subscribe),
    Route(
        "POST",
        "/account/notifications/devices/{device_id}/delete",
        SIGNED_IN,
        id_param="device_id",
        make_id=make_subscription,
        make_id_as=make_subscription_as,
        fresh_record=True,
        form={},
        ok_statuses=(303,),
        grpc=grpc_remove,
    ),
    Route("GET", "/api/v1/notifications/push", SIGNED_IN, grpc=grpc_settings),
    Route(
        "PUT",
        "/api/v1/notifications/push/preferences",
        SIGNED_IN,
        json={"ticket_replies": True, "estimates": False, "invoices": True, "remote_requests": False},
        grpc=grpc_preferences,
    ),
    Route(
        "POST", "/api/v1/notifications/push/subscriptions", SIGNED_IN, json=_json_subscription(), grpc=grpc_subscribe
    ),
    Route(
        "DELETE",
        "/api/v1/notifications/push/subscriptions/{subscription_id}",
        SIGNED_IN,
        id_param="subscription_id",
        make_id=make_subscription,
        make_id_as=make_subscription_as,
        fresh_record=True,
        grpc=grpc_remove,
    ),
]
