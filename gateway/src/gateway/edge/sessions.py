"""Session token → principal, cached in-process and dropped when identity says the session changed.

Identity's ResolveSession answers who the browser is and hands back a principal token. The answer is kept under a
hash of the session token, so a page costs no identity round-trip when cached; concurrent misses for one session
share one call. How long (issue 16, docs/architecture.md "Sessions"):

- While this process hears identity's SessionsChanged events (`trust()`, called by clients/session_events.py once
  its NATS subscription is live), an answer is kept up to `ttl_seconds` (GATEWAY_SESSION_CACHE_SECONDS, 300 s):
  every event drops the entries of the sessions, users or customers it names (`invalidate`).
- Otherwise (`distrust()`: NATS lost, never reached, or messages dropped) at most `short_ttl_seconds`
  (GATEWAY_PRINCIPAL_CACHE_SECONDS, 5 s), as before events existed, and the entries already cached are cut to that.
- Never past the principal token's expiry (which identity caps at the session's and a secure link's end).

An answer loaded while an invalidation or a change of trust happened is kept only `short_ttl_seconds`: the event may
have been about it and arrived before it was stored. The cache is an LRU bounded by `max_entries`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc

from gateway.clients.identity import IdentityClient
from gateway.edge import metrics
from gateway.edge.csrf import Csrf
from servicekit.principal import Principal

SESSION_COOKIE = "portal_session"
# request.state key of (session token, Session) when the edge already resolved this request's session (the page cache).
RESOLVED_STATE_KEY = "session_resolved"
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
    # The index keys ("s:<session id>", "u:<subject id>", "c:<customer id>") this entry is filed under.
    tags: tuple[str, ...] = ()


def _tags(principal: Principal) -> tuple[str, ...]:
    tags = {f"u:{principal.subject_id}"}
    if principal.session_id:
        tags.add(f"s:{principal.session_id}")
    for customer_id in (principal.customer_id, *principal.customer_ids):
        if customer_id:
            tags.add(f"c:{customer_id}")
    return tuple(tags)


class PrincipalCache:
    def __init__(
        self,
        identity: IdentityClient,
        csrf: Csrf,
        *,
        ttl_seconds: float = 300.0,
        short_ttl_seconds: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._identity = identity
        self._csrf = csrf
        self._long_ttl = ttl_seconds
        self._short_ttl = min(short_ttl_seconds, ttl_seconds)
        self._max = max(1, max_entries)
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._index: dict[str, set[str]] = {}
        self._inflight: dict[str, asyncio.Future[tuple[Session, float]]] = {}
        # Until the event subscription says it is live, answers are kept only briefly.
        self._trusted = False
        # Moves on every invalidation and change of trust; a load that saw it move is kept only briefly.
        self._generation = 0

    @property
    def trusted(self) -> bool:
        return self._trusted

    @property
    def ttl_seconds(self) -> float:
        """How long an answer loaded now is kept at most."""
        return self._long_ttl if self._trusted else self._short_ttl

    async def resolve(self, session_token: str) -> Session:
        """The session's principal; raises grpc.aio.AioRpcError (UNAUTHENTICATED for a dead session)."""
        key = session_hash(session_token)
        entry = self._entries.get(key)
        if entry is not None:
            if entry.expires > self._clock():
                self._entries.move_to_end(key)
                metrics.SESSION_CACHE_LOOKUPS.labels("hit").inc()
                return entry.session
            self._remove(key)
            metrics.SESSION_CACHE_EVICTIONS.labels("expired").inc()
        metrics.SESSION_CACHE_LOOKUPS.labels("miss").inc()
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._load(key, session_token))
            self._inflight[key] = fut
            generation = self._generation
            fut.add_done_callback(lambda f: self._loaded(key, f, generation))
        session, _ = await asyncio.shield(fut)
        return session

    def _loaded(self, key: str, fut: asyncio.Future[tuple[Session, float]], generation: int) -> None:
        # A sign-out during the load removed the in-flight entry: then the answer must not be cached.
        current = self._inflight.get(key) is fut
        if current:
            del self._inflight[key]
        if fut.cancelled() or fut.exception() is not None:
            return
        session, ttl = fut.result()
        if generation != self._generation or not self._trusted:
            ttl = min(ttl, self._short_ttl)
        if current and ttl > 0:
            self._store(key, _Entry(session, self._clock() + ttl, _tags(session.principal)))

    async def _load(self, key: str, session_token: str) -> tuple[Session, float]:
        resolved = await self._identity.resolve_session(session_token)
        principal = resolved.principal
        name, ttl = "", self._long_ttl
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
        if key in self._entries:
            self._remove(key)
        while len(self._entries) >= self._max:
            oldest = next(iter(self._entries))
            expired = self._entries[oldest].expires <= self._clock()
            self._remove(oldest)
            metrics.SESSION_CACHE_EVICTIONS.labels("expired" if expired else "size").inc()
        self._entries[key] = entry
        for tag in entry.tags:
            self._index.setdefault(tag, set()).add(key)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for tag in entry.tags:
            keys = self._index.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[tag]

    def drop(self, session_token: str) -> None:
        key = session_hash(session_token)
        self._remove(key)
        self._inflight.pop(key, None)

    def invalidate(
        self,
        reason: str,
        *,
        session_ids: Iterable[str] = (),
        user_ids: Iterable[str] = (),
        customer_ids: Iterable[str] = (),
        all_sessions: bool = False,
    ) -> int:
        """Drop the entries of these sessions, users (subject ids) or customers (or all); returns how many."""
        self._generation += 1
        metrics.SESSION_CACHE_INVALIDATIONS.labels(reason).inc()
        if all_sessions:
            keys = set(self._entries)
        else:
            tags = [f"s:{i}" for i in session_ids] + [f"u:{i}" for i in user_ids] + [f"c:{i}" for i in customer_ids]
            keys = set().union(*(self._index.get(tag, ()) for tag in tags))
        for key in keys:
            self._remove(key)
        if keys:
            metrics.SESSION_CACHE_DROPPED.labels(reason).inc(len(keys))
        return len(keys)

    def trust(self) -> None:
        """The event subscription is live (again): answers loaded from now on may be kept the long TTL."""
        self._generation += 1
        self._trusted = True
        metrics.SESSION_EVENTS_CONNECTED.set(1)

    def distrust(self, reason: str = "connection") -> None:
        """Events may be missed (NATS lost, or messages dropped): keep every answer at most the short TTL, the
        ones already cached included, until `trust()`."""
        self._generation += 1
        self._trusted = False
        metrics.SESSION_EVENTS_CONNECTED.set(0)
        metrics.SESSION_CACHE_INVALIDATIONS.labels(reason).inc()
        self.shorten()

    def shorten(self) -> None:
        """Cut every cached answer to the short TTL (events were missed while the subscription stayed)."""
        self._generation += 1
        limit = self._clock() + self._short_ttl
        for entry in self._entries.values():
            entry.expires = min(entry.expires, limit)

    def __len__(self) -> int:
        return len(self._entries)
