"""Who the client is: the peer address, or — only when the peer is a trusted proxy — the address it reports.

`GATEWAY_TRUSTED_PROXIES` lists the proxies (addresses or CIDRs, comma-separated) in front of the gateway, e.g.
the ingress controller's pod range. Empty (the default) means there is none: `X-Forwarded-For` is ignored and
the TCP peer is the client. When the peer is trusted, the client is the right-most address in `X-Forwarded-For`
that is not itself a trusted proxy (each proxy appends the address it received the request from, so everything
left of that was written by the client and proves nothing). Every per-address rule (the sign-in lock-out, the
audit's "from where") reads the result as `request.client.host`.

uvicorn's own proxy-header handling (and its `FORWARDED_ALLOW_IPS`) is off (gateway/server.py), so this is the
only place a forwarded address is believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class ClientAddress:
    """Decides the client address of one request from the peer and `X-Forwarded-For`."""

    def __init__(self, trusted: Iterable[Network]) -> None:
        self.trusted = tuple(trusted)

    def is_trusted(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip.version == n.version and ip in n for n in self.trusted)

    def client(self, peer: str, forwarded_for: list[str]) -> str:
        if not self.trusted or not self.is_trusted(peer):
            return peer
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                # Garbage where a proxy's entry should be: believe nothing further left.
                return peer
            if not self.is_trusted(hop):
                return str(ip)
        # Every hop is a trusted proxy (or there is no header): the left-most is as close to the client as known.
        first = _ip(hops[0]) if hops else None
        return str(first) if first is not None else peer


class TrustedProxiesMiddleware:
    """Outermost ASGI middleware: rewrites scope["client"] when the peer is a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: Iterable[Network] = ()) -> None:
        self.app = app
        self.resolver = ClientAddress(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.resolver.trusted and scope.get("client"):
            peer, port = scope["client"]
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
            client = self.resolver.client(peer, forwarded)
            if client != peer:
                scope = dict(scope, client=(client, port))
        await self.app(scope, receive, send)
