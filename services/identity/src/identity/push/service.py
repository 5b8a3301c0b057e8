"""Web push (X7): a portal user's subscriptions and opt-in per kind, and queueing a push for the users who opted in
to its kind and may see its record. Functions never commit; the caller's unit of work does.

What a subscription may point at is checked here (`check_endpoint`): https only, never an address literal on this
side of the internet (loopback, private, link-local), so a client cannot make identity POST to the operator's own
network. `insecure_hosts` (IDENTITY_PUSH_INSECURE_HOSTS, refused when env=prod) lets tests name a local endpoint.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers.models import Customer
from identity.db import new_id, utcnow
from identity.groups.models import PermissionGroup
from identity.languages import service as languages
from identity.push.models import OutboundPush, PushPreference, PushSubscription
from identity.users.models import PortalUser
from servicekit.db import signal_after_commit
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from servicekit.principal import KIND_PORTAL_USER, Principal

# The kinds a user opts in to, each a column of PushPreference.
TICKET_REPLIES = "ticket_replies"
ESTIMATES = "estimates"
INVOICES = "invoices"
REMOTE_REQUESTS = "remote_requests"
KINDS = (TICKET_REPLIES, ESTIMATES, INVOICES, REMOTE_REQUESTS)
# Raised by a unit of work that queued a push; the pusher wakes on it once that work commits.
PUSH_SIGNAL = "identity.push"
MAX_ENDPOINT = 2048
MAX_SUBSCRIPTIONS = 20
MAX_TITLE = 80
MAX_TEXT = 160


@dataclass(frozen=True)
class Preferences:
    ticket_replies: bool = False
    estimates: bool = False
    invoices: bool = False
    remote_requests: bool = False


def _portal_user(principal: Principal) -> str:
    if principal.kind != KIND_PORTAL_USER or not principal.subject_id:
        raise PermissionDenied("only a signed-in portal user has push notifications")
    return principal.subject_id


def _b64url(value: str, field: str) -> bytes:
    value = value.strip()
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidArgument("must be base64url", field=field) from None


def check_endpoint(endpoint: str, *, insecure_hosts: frozenset[str] = frozenset()) -> str:
    """The push service URL, when it is one identity may POST to."""
    endpoint = endpoint.strip()
    if not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise InvalidArgument(f"must be a URL of at most {MAX_ENDPOINT} characters", field="endpoint")
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidArgument("is not a URL", field="endpoint") from None
    if parts.username or parts.password or not host or any(ch.isspace() for ch in endpoint):
        raise InvalidArgument("is not a push service URL", field="endpoint")
    if host in insecure_hosts and parts.scheme in ("http", "https"):
        return endpoint
    if parts.scheme != "https":
        raise InvalidArgument("must be an https URL", field="endpoint")
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidArgument("must be a public push service", field="endpoint")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return endpoint
    if not address.is_global:
        raise InvalidArgument("must be a public push service", field="endpoint")
    return endpoint


def check_keys(p256dh: str, auth: str) -> tuple[str, str]:
    """The subscription's keys as the browser gives them: a P-256 public point and a 16-byte secret."""
    point = _b64url(p256dh, "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidArgument("is not a P-256 public key", field="p256dh") from None
    if len(_b64url(auth, "auth")) != 16:
        raise InvalidArgument("must be 16 bytes", field="auth")
    return p256dh.strip(), auth.strip()


async def preferences(s: AsyncSession, portal_user_id: str) -> Preferences:
    row = await s.get(PushPreference, portal_user_id)
    if row is None:
        return Preferences()
    return Preferences(**{k: bool(getattr(row, k)) for k in KINDS})


async def get_settings(s: AsyncSession, *, principal: Principal) -> tuple[Preferences, list[PushSubscription]]:
    """The caller's opt-in and subscriptions, newest first."""
    user_id = _portal_user(principal)
    subs = await s.scalars(
        select(PushSubscription)
        .where(PushSubscription.portal_user_id == user_id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id)
    )
    return await preferences(s, user_id), list(subs.all())


async def set_preferences(s: AsyncSession, *, principal: Principal, wanted: Preferences) -> Preferences:
    """Replace the caller's opt-in (every kind given)."""
    user_id = _portal_user(principal)
    row = await s.get(PushPreference, user_id)
    if row is None:
        row = PushPreference(portal_user_id=user_id)
        s.add(row)
    for kind in KINDS:
        setattr(row, kind, bool(getattr(wanted, kind)))
    row.updated_at = utcnow()
    await s.flush()
    return await preferences(s, user_id)


async def add_subscription(
    s: AsyncSession,
    *,
    principal: Principal,
    endpoint: str,
    p256dh: str,
    auth: str,
    user_agent: str = "",
    insecure_hosts: frozenset[str] = frozenset(),
) -> PushSubscription:
    """Store the browser's subscription for the caller; the same endpoint again updates it (and moves it to the
    caller when another user of that browser had it), so a retry adds nothing."""
    user_id = _portal_user(principal)
    endpoint = check_endpoint(endpoint, insecure_hosts=insecure_hosts)
    p256dh, auth = check_keys(p256dh, auth)
    user_agent = "".join(ch for ch in user_agent if ch.isprintable())[:200]
    row = await s.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if row is None:
        mine = await s.scalars(select(PushSubscription.id).where(PushSubscription.portal_user_id == user_id))
        count = len(mine.all())
        if count >= MAX_SUBSCRIPTIONS:
            raise InvalidArgument(f"at most {MAX_SUBSCRIPTIONS} devices; remove one first", field="endpoint")
        row = PushSubscription(id=new_id(), endpoint=endpoint, created_at=utcnow())
        s.add(row)
    row.portal_user_id = user_id
    row.customer_id = principal.customer_id
    row.p256dh, row.auth, row.user_agent = p256dh, auth, user_agent
    await s.flush()
    return row


async def remove_subscription(s: AsyncSession, *, principal: Principal, subscription_id: str) -> None:
    """Delete one of the caller's subscriptions; another user's is NOT_FOUND."""
    user_id = _portal_user(principal)
    row = await s.get(PushSubscription, subscription_id) if subscription_id else None
    if row is None or row.portal_user_id != user_id:
        raise NotFound("no such push subscription")
    await delete_subscription(s, row.id)


async def delete_subscription(s: AsyncSession, subscription_id: str) -> None:
    """Forget a subscription and what was still waiting for it (a 404/410 from its push service ends it too)."""
    await s.execute(
        delete(OutboundPush).where(OutboundPush.subscription_id == subscription_id, OutboundPush.sent_at.is_(None))
    )
    await s.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id))


def payload(*, title: str, text: str, path: str) -> str:
    """What a push carries: a title, a short text and a path in the portal — no token, no link to elsewhere."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        raise ValueError(f"not a portal path: {path!r}")

    def line(value: str, limit: int) -> str:
        value = " ".join(value.split())
        return value if len(value) <= limit else value[: limit - 1] + "…"

    return json.dumps({"title": line(title, MAX_TITLE), "body": line(text, MAX_TEXT), "url": path})


async def subscribers(
    s: AsyncSession,
    *,
    customer_id: str,
    kind: str,
    view_all: str,
    view_mine: str,
    contact_id: str = "",
    mine_without_contact: bool = False,
) -> list[tuple[PushSubscription, str]]:
    """The subscriptions of the customer's enabled portal users who opted in to `kind` and whose group lets them see
    the record: `view_all`, or `view_mine` when the record is their contact's. A record with no contact reaches View
    Mine users only with `mine_without_contact` (a device: identity does not know whose it is, and the device email
    tells them too). Each with the language its user reads (SPEC H5: its own choice, else the customer's default)."""
    if kind not in KINDS or not customer_id:
        return []
    customer = await s.get(Customer, customer_id)
    default = customer.language if customer is not None else ""
    rows = await s.execute(
        select(PushSubscription, PortalUser, PermissionGroup)
        .join(PortalUser, PortalUser.id == PushSubscription.portal_user_id)
        .join(PermissionGroup, PermissionGroup.id == PortalUser.group_id)
        .join(PushPreference, PushPreference.portal_user_id == PortalUser.id)
        .where(
            PortalUser.customer_id == customer_id,
            PortalUser.disabled_at.is_(None),
            PortalUser.password_hash.is_not(None),
            getattr(PushPreference, kind).is_(True),
        )
        .order_by(PushSubscription.created_at, PushSubscription.id)
    )
    out = []
    for sub, user, group in rows.all():
        permissions = set(group.permissions or ())
        if view_all in permissions or (
            view_mine in permissions
            and ((contact_id and user.contact_id == contact_id) or (not contact_id and mine_without_contact))
        ):
            out.append((sub, languages.resolved(user.language, default)))
    return out


async def queue_push(
    s: AsyncSession,
    *,
    cause_event_id: str,
    subscriptions: list[tuple[PushSubscription, str]],
    kind: str,
    customer_id: str,
    words: Callable[[str], tuple[str, str]],
    path: str,
) -> int:
    """Add one push per subscription to the outbox, its title and text (`words(language)`) in the language of the
    subscription's user; a redelivered event adds nothing. Returns how many were new."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    added = 0
    now = utcnow()
    for sub, language in subscriptions:
        title, text = words(language)
        body = payload(title=title, text=text, path=path)
        result = await s.execute(
            insert(OutboundPush)
            .values(
                id=new_id(),
                cause_event_id=cause_event_id,
                subscription_id=sub.id,
                kind=kind,
                customer_id=customer_id,
                payload=body,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["cause_event_id", "subscription_id"])
        )
        added += result.rowcount or 0
    if added:
        signal_after_commit(s, PUSH_SIGNAL)
    return added
