"""Web push (X7): the subscription a browser hands over (PushSubscription.toJSON()), the same for the account page's
script and the JSON API, with the bounds identity also enforces (docs/push.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_ENDPOINT = 2048
MAX_P256DH = 200
MAX_AUTH = 100
MAX_USER_AGENT = 200


class SubscriptionKeys(BaseModel):
    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(min_length=1, max_length=MAX_P256DH, description="The browser's P-256 public key, base64url")
    auth: str = Field(min_length=1, max_length=MAX_AUTH, description="The 16-byte auth secret, base64url")


class Subscription(BaseModel):
    """`PushSubscription.toJSON()` as the browser gives it; `expirationTime` is accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(
        min_length=1, max_length=MAX_ENDPOINT, description="The push service URL (https on the internet)"
    )
    keys: SubscriptionKeys
    expirationTime: int | None = None  # noqa: N815 - the browser's name


def user_agent(header: str | None) -> str:
    """What the device list shows about a browser: its User-Agent, printable and short."""
    return "".join(ch for ch in (header or "") if ch.isprintable())[:MAX_USER_AGENT]
