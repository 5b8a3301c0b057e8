"""Web push: domain ⇄ proto."""

from __future__ import annotations

from urllib.parse import urlsplit

from identity.push.models import PushSubscription
from identity.push.service import KINDS, Preferences
from portal.identity.v1 import identity_pb2
from servicekit.protos import timestamp


def preferences_to_proto(p: Preferences) -> identity_pb2.PushPreferences:
    return identity_pb2.PushPreferences(**{k: getattr(p, k) for k in KINDS})


def preferences_from_proto(p: identity_pb2.PushPreferences) -> Preferences:
    return Preferences(**{k: bool(getattr(p, k)) for k in KINDS})


def subscription_to_proto(sub: PushSubscription) -> identity_pb2.PushSubscription:
    # Never the endpoint itself (whoever holds it can push to the browser) nor the keys.
    return identity_pb2.PushSubscription(
        id=sub.id,
        endpoint_host=urlsplit(sub.endpoint).hostname or "",
        user_agent=sub.user_agent,
        created_at=timestamp(sub.created_at),
    )
