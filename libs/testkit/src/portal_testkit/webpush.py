"""A local Web Push service for tests: what a browser vendor's push service does on the receiving side, so the
sending side can be tested for real without the internet.

- `Browser.new()` plays the browser: it makes a subscription's keys (a P-256 key pair and a 16-byte auth secret,
  RFC 8291) and later decrypts what it receives with its private key.
- `PushService` is an aiohttp server on 127.0.0.1 that accepts RFC 8030 POSTs to `/push/<name>`, checks the VAPID
  `Authorization: vapid t=<JWT>, k=<key>` header (RFC 8292: ES256 signed by `k`, `aud` its own origin, `exp` within
  24 h, a `sub`), the `TTL` and `Content-Encoding: aes128gcm` headers, decrypts the body (RFC 8291) and keeps the
  JSON. A name listed in `gone` answers 410 Gone, as a push service does for an expired subscription.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A subscribing browser's keys (RFC 8291)."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Browser:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth_b64(self) -> str:
        return b64url(self.auth)

    def decrypt(self, body: bytes) -> bytes:
        return http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")


@dataclass
class Received:
    name: str
    message: dict[str, Any]
    vapid_key: str
    claims: dict[str, Any]
    ttl: int


@dataclass
class PushService:
    """The receiving side of Web Push on 127.0.0.1; start with `async with PushService() as svc`."""

    browsers: dict[str, Browser] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def subscribe(self, name: str) -> dict[str, Any]:
        """A new browser's subscription JSON, as `PushSubscription.toJSON()` gives it."""
        browser = self.browsers[name] = Browser.new()
        return {"endpoint": self.endpoint(name), "keys": {"p256dh": browser.p256dh, "auth": browser.auth_b64}}

    def messages(self, name: str) -> list[dict[str, Any]]:
        return [r.message for r in self.received if r.name == name]

    async def __aenter__(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{name}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _refuse(self, name: str, why: str, status: int = 400) -> web.Response:
        self.refused.append(f"{name}: {why}")
        return web.Response(status=status, text=why)

    async def _push(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.gone:
            return web.Response(status=410, text="subscription expired")
        browser = self.browsers.get(name)
        if browser is None:
            return web.Response(status=404, text="no such subscription")
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            return self._refuse(name, "no vapid authorization", 401)
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        token, key = parts.get("t", ""), parts.get("k", "")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
            claims = jwt.decode(token, public, algorithms=["ES256"], audience=self.origin)
        except (ValueError, jwt.PyJWTError) as exc:
            return self._refuse(name, f"bad vapid token: {exc}", 403)
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            return self._refuse(name, "vapid sub is not a contact", 403)
        if not time.time() < int(claims["exp"]) <= time.time() + 24 * 3600:
            return self._refuse(name, "vapid exp not within 24 h", 403)
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(name, "content encoding is not aes128gcm", 415)
        try:
            ttl = int(request.headers["TTL"])
        except (KeyError, ValueError):
            return self._refuse(name, "no TTL")
        try:
            message = json.loads(browser.decrypt(await request.read()))
        except Exception as exc:  # noqa: BLE001 - any decryption failure is a refusal the test reads
            return self._refuse(name, f"cannot decrypt: {exc.__class__.__name__}")
        self.received.append(Received(name, message, key, claims, ttl))
        return web.Response(status=201, headers={"Location": f"{self.origin}/message/{len(self.received)}"})
