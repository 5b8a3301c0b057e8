"""Session token → principal, cached briefly in-process.

Identity's ResolveSession answers who the browser is and hands back a short-lived principal token. The
answer is kept for a few seconds (never past the token's expiry) under a hash of the session token, so a
page costs no identity round-trip when cached; concurrent misses for one session share one call.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from gateway.clients.identity import IdentityClient
from gateway.edge.csrf import Csrf
from servicekit.principal import Principal

SESSION_COOKIE = "portal_session"
# Never use a principal token this close to its expiry: the backend call must still find it valid.
_EXPIRY_MARGIN_SECONDS = 5.0
# When the customer's name could not be fetched, retry soon instead of showing a blank header for long.
_DEGRADED_TTL_SECONDS = 2.0


def session_hash(session_token: str) -> str:
    return hashlib.sha256(session_token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser or API client, as the gateway's routes see it."""

    token_hash: str
    principal: Principal
    principal_token: str
    customer_name: str
    csrf_token: str
    # SPEC P7: the support end date (YYYY-MM-DD) while the renewal notice shows, else "".
    renewal_notice_ends_on: str = ""
    # SPEC C3: whether the customer has remote access enabled (the portal's Remote action, R1); None when unknown.
    remote_access_enabled: bool | None = None
    # Two-step verification is on for the user (the header offers the opt-in enrolment only when it is off).
    mfa_enabled: bool = False
    # SPEC H5: the language kept on the user (else its customer's default); "" lets the cookie or browser decide.
    language: str = ""


@dataclass(slots=True)
class _Entry:
    session: Session
    expires: float


class PrincipalCache:
    def __init__(
        self,
        identity: IdentityClient,
        csrf: Csrf,
        *,
        ttl_seconds: float = 25.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._identity = identity
        self._csrf = csrf
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[tuple[Session, float]]] = {}

    async def resolve(self, session_token: str) -> Session:
        """The session's principal; raises grpc.aio.AioRpcError (UNAUTHENTICATED for a dead session)."""
        key = session_hash(session_token)
        entry = self._entries.get(key)
        if entry is not None:
            if entry.expires > self._clock():
                return entry.session
            del self._entries[key]
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._load(key, session_token))
            self._inflight[key] = fut
            fut.add_done_callback(lambda f: self._loaded(key, f))
        session, _ = await asyncio.shield(fut)
        return session

    def _loaded(self, key: str, fut: asyncio.Future[tuple[Session, float]]) -> None:
        # A sign-out during the load removed the in-flight entry: then the answer must not be cached.
        current = self._inflight.get(key) is fut
        if current:
            del self._inflight[key]
        if fut.cancelled() or fut.exception() is not None:
            return
        session, ttl = fut.result()
        if current and ttl > 0:
            self._store(key, _Entry(session, self._clock() + ttl))

    async def _load(self, key: str, session_token: str) -> tuple[Session, float]:
        resolved = await self._identity.resolve_session(session_token)
        principal = resolved.principal
        name, ttl = "", self._ttl
        remote: bool | None = None
        if principal.is_link:
            # Identity gives a secure link no customer record (SPEC P6); its principal carries the name.
            name = principal.display_name
        elif principal.customer_id:
            try:
                customer = await self._identity.get_customer(resolved.principal_token, principal.customer_id)
                name, remote = customer.display_name, customer.remote_access_enabled
            except grpc.aio.AioRpcError:
                ttl = min(ttl, _DEGRADED_TTL_SECONDS)
        session = Session(
            token_hash=key,
            principal=principal,
            principal_token=resolved.principal_token,
            customer_name=name,
            csrf_token=self._csrf.for_session(key),
            renewal_notice_ends_on=resolved.renewal_notice_ends_on,
            remote_access_enabled=remote,
            mfa_enabled=resolved.mfa_enabled,
            language=resolved.language,
        )
        if resolved.token_expires_at is not None:
            left = (resolved.token_expires_at - datetime.now(UTC)).total_seconds() - _EXPIRY_MARGIN_SECONDS
            ttl = min(ttl, left)
        return session, ttl

    def _store(self, key: str, entry: _Entry) -> None:
        if len(self._entries) >= self._max:
            now = self._clock()
            for k in [k for k, e in self._entries.items() if e.expires <= now]:
                del self._entries[k]
            while len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = entry

    def drop(self, session_token: str) -> None:
        key = session_hash(session_token)
        self._entries.pop(key, None)
        self._inflight.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
