"""The pusher: a background loop that sends the push outbox to the browsers' push services (RFC 8030), with a VAPID
signature (RFC 8292) and the payload encrypted for the subscription (RFC 8291, aes128gcm), through pywebpush.

Like the mailer, a row is leased before it is sent (two replicas never send the same push) and no network call is
made inside a unit of work. The push service's answer decides: 201/202 sent; 404 or 410 means the subscription is
gone, so it is deleted with whatever still waited for it; another 4xx fails the row for good; 429, 5xx or no answer
retries with a growing delay. Log lines name the row, the kind and the status, never the endpoint (it is a bearer
capability) or the payload.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from sqlalchemy import select

from identity import metrics, outbound
from identity.db import utcnow
from identity.push.models import OutboundPush, PushSubscription
from identity.push.service import PUSH_SIGNAL, delete_subscription
from servicekit.db import Database

log = logging.getLogger(__name__)
GONE = (404, 410)
# How long the push service keeps a message for a browser that is offline.
TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class VapidKey:
    """The application server's P-256 key pair (RFC 8292) and the contact it signs with (`sub`)."""

    vapid: Vapid
    subject: str

    @classmethod
    def from_file(cls, path: Path, subject: str) -> VapidKey:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the VAPID key {path}: {exc.strerror or exc}") from None
        try:
            vapid = Vapid.from_pem(pem)
        except Exception as exc:  # noqa: BLE001 - py_vapid raises several kinds for a bad key
            raise ValueError(f"{path} is not a P-256 private key in PEM ({exc.__class__.__name__})") from None
        return cls(vapid, subject)

    def public_key(self) -> str:
        """The applicationServerKey a page subscribes with: the uncompressed point, base64url without padding."""
        raw = self.vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to 10 minutes between tries."""
    return outbound.backoff(attempts, cap=600.0)


class Pusher(outbound.Sender):
    name = "pusher"

    def __init__(
        self,
        db: Database,
        key: VapidKey | None,
        *,
        poll_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 20,
        max_attempts: int = 8,
    ) -> None:
        super().__init__(db, PUSH_SIGNAL, poll_seconds=poll_seconds, lease=lease, batch=batch)
        self._key = key
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts

    async def run(self) -> None:
        """Send until cancelled; without a VAPID key push is off and there is nothing to do."""
        if self._key is None:
            return
        await super().run()

    async def send_pending(self, *, now: datetime | None = None) -> int:
        """One pass: lease due pushes, send them, record the outcome. Returns how many were leased."""
        if self._key is None:
            return 0
        leased = await self._lease_due(now or utcnow())
        for row, sub in leased:
            await self._send_one(row, sub)
        return len(leased)

    async def _lease_due(self, now: datetime) -> list[tuple[OutboundPush, PushSubscription | None]]:
        async with self._db.unit_of_work() as s:
            rows = await outbound.lease_due(s, OutboundPush, now, lease=self._lease, batch=self._batch)
            if not rows:
                return []
            subs = {
                sub.id: sub
                for sub in (
                    await s.scalars(
                        select(PushSubscription).where(PushSubscription.id.in_({r.subscription_id for r in rows}))
                    )
                ).all()
            }
            return [(row, subs.get(row.subscription_id)) for row in rows]

    async def _post(self, row: OutboundPush, sub: PushSubscription) -> int:
        """Send one push; the push service's status (201 when accepted)."""
        assert self._key is not None
        from pywebpush import WebPushException, webpush_async  # see _send_one

        try:
            response = await webpush_async(
                subscription_info={"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                data=row.payload,
                vapid_private_key=self._key.vapid,
                # A fresh dict: pywebpush writes aud and exp into it.
                vapid_claims={"sub": self._key.subject},
                content_encoding="aes128gcm",
                ttl=TTL_SECONDS,
                timeout=self._timeout,
            )
        except WebPushException as exc:
            status = getattr(exc.response, "status", None) or getattr(exc.response, "status_code", None)
            if status is None:
                raise
            return int(status)
        return int(response.status)

    async def _send_one(self, row: OutboundPush, sub: PushSubscription | None) -> None:
        # pywebpush (with requests and http_ece under it) is loaded on the first push, not at start: most identity
        # processes have no subscribed browser to push to, and it is about 4 MB of memory (issue 16).
        from pywebpush import WebPushException

        status: int | None = None
        error = ""
        if sub is not None:
            try:
                status = await self._post(row, sub)
            except (aiohttp.ClientError, TimeoutError, OSError, WebPushException) as exc:
                error = exc.__class__.__name__
        outcome = (
            "gone"
            if sub is None or status in GONE
            else "sent"
            if status in (200, 201, 202)
            else "retry"
            if status is None or status == 429 or status >= 500
            else "failed"
        )
        async with self._db.unit_of_work() as s:
            if outcome == "gone" and sub is not None:
                # The subscription ended: it goes, and this push and any other still waiting for it with it.
                await delete_subscription(s, sub.id)
                metrics.PUSHES.labels(row.kind, outcome).inc()
                log.info("push %s (%s): subscription gone (status %s), deleted", row.id, row.kind, status)
                return
            push = await s.get(OutboundPush, row.id)
            if push is None:
                return
            now = utcnow()
            push.attempts += 1
            push.locked_until = None
            push.last_error = None if outcome == "sent" else (f"status {status}" if status else error or "gone")
            if outcome == "sent":
                push.sent_at = now
            elif outcome == "gone":  # its subscription was removed meanwhile
                push.failed_at = now
            elif outcome == "failed" or push.attempts >= self._max_attempts:
                push.failed_at = now
            else:
                push.next_attempt_at = now + backoff(push.attempts)
        metrics.PUSHES.labels(row.kind, outcome).inc()
        log.info("push %s (%s): %s%s", row.id, row.kind, outcome, f" ({push.last_error})" if push.last_error else "")

    async def measure_backlog(self) -> None:
        metrics.PUSH_BACKLOG.set(await outbound.backlog(self._db, OutboundPush))
