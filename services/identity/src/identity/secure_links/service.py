"""Secure links (SPEC P6): staff create, list and revoke them; a visitor opens one into a scoped session.

`open_link` runs its own units of work, like `sign_in`: a refused attempt's audit row must be committed although
the call fails. Everything else never commits; the caller's unit of work does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.access import require_staff
from identity.audit.models import AuditEntry
from identity.audit.service import record
from identity.customers.models import Customer
from identity.db import UtcDateTime, utcnow
from identity.events import publish
from identity.secure_links.models import SCOPE_CUSTOMER, SCOPES, SecureLink
from identity.secure_links.principal import link_principal, refusal
from identity.sessions.models import AUDIENCE_PORTAL, UserSession
from identity.sessions.service import OpenedSession, SessionPolicy
from identity.sessions.tokens import MAX_SESSION_TOKEN, hash_session_token, new_session_token
from servicekit.db import Database
from servicekit.errors import InvalidArgument, NotFound, Unauthenticated
from servicekit.principal import KIND_SECURE_LINK, Principal

log = logging.getLogger(__name__)

LINK_CREATED = "secure_link_created"
LINK_REVOKED = "secure_link_revoked"
LINK_USED = "secure_link_used"
LINK_REFUSED = "secure_link_refused"
DEFAULT_LIFETIME = timedelta(days=7)
MAX_LIFETIME = timedelta(days=90)
MIN_LIFETIME = timedelta(minutes=1)
SCOPE_ID_MAX = 64
LIST_MAX = 200
USER_AGENT_MAX = 300
# One answer for every dead link, so a visitor learns nothing about which links exist or why one failed.
LINK_DEAD = "this link does not work any more; ask for a new one"

STATE_ACTIVE = "active"
STATE_EXPIRED = "expired"
STATE_REVOKED = "revoked"
STATE_USED = "used"


@dataclass(frozen=True)
class CreatedLink:
    link: SecureLink
    # Shown once; only its SHA-256 is stored.
    token: str


@dataclass(frozen=True)
class LinkUse:
    at: datetime
    client_address: str
    user_agent: str
    outcome: str


def subject_of(link_id: str) -> str:
    """The audit log subject of a link's rows."""
    return f"secure_link:{link_id}"


def state_of(link: SecureLink, now: datetime | None = None) -> str:
    now = now or utcnow()
    if link.revoked_at is not None:
        return STATE_REVOKED
    if now >= link.expires_at:
        return STATE_EXPIRED
    if link.single_use and link.used_at is not None:
        return STATE_USED
    return STATE_ACTIVE


async def create_link(
    s: AsyncSession,
    *,
    principal: Principal,
    customer_id: str,
    scope: str,
    scope_id: str = "",
    lifetime: timedelta | None = None,
    single_use: bool = False,
    now: datetime | None = None,
) -> CreatedLink:
    """A new link to one ticket, one site or the whole customer (staff only). Tickets and sites belong to other
    services: the scope id is not looked up here, and a wrong one opens nothing, because the tickets service
    filters by the link's customer as well as by its ticket or site."""
    require_staff(principal)
    now = now or utcnow()
    if scope not in SCOPES:
        raise InvalidArgument(f"the scope must be one of {', '.join(SCOPES)}", field="scope")
    scope_id = scope_id.strip()
    if scope == SCOPE_CUSTOMER:
        if scope_id:
            raise InvalidArgument("a link to the whole customer takes no scope id", field="scope_id")
    elif not scope_id:
        raise InvalidArgument(f"name the {scope} the link opens", field="scope_id")
    if len(scope_id) > SCOPE_ID_MAX or "\x00" in scope_id:
        raise InvalidArgument("the scope id is not a valid id", field="scope_id")
    lifetime = lifetime or DEFAULT_LIFETIME
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise InvalidArgument("a link lives between 1 minute and 90 days", field="expires_in_seconds")
    customer = await s.get(Customer, customer_id) if customer_id and len(customer_id) <= 36 else None
    if customer is None:
        raise NotFound("no such customer", field="customer_id")
    token = new_session_token()
    link = SecureLink(
        customer_id=customer.id,
        scope=scope,
        scope_id=scope_id,
        token_hash=hash_session_token(token),
        expires_at=now + lifetime,
        single_use=single_use,
        created_by=principal.subject_id,
        created_at=now,
    )
    s.add(link)
    await s.flush()
    await record(
        s,
        kind=LINK_CREATED,
        subject=subject_of(link.id),
        at=now,
        detail={"by": principal.subject_id, "customer_id": customer.id, "scope": scope, "scope_id": scope_id},
    )
    log.info("secure link %s created for customer %s (%s)", link.id, customer.id, scope)
    return CreatedLink(link=link, token=token)


async def list_links(s: AsyncSession, *, principal: Principal, customer_id: str) -> list[SecureLink]:
    """The customer's links, newest first (staff only)."""
    require_staff(principal)
    if not customer_id:
        raise InvalidArgument("enter a customer id", field="customer_id")
    rows = await s.scalars(
        select(SecureLink)
        .where(SecureLink.customer_id == customer_id)
        .order_by(SecureLink.created_at.desc(), SecureLink.id.desc())
        .limit(LIST_MAX)
    )
    return list(rows.all())


async def _link(s: AsyncSession, link_id: str) -> SecureLink:
    link = await s.get(SecureLink, link_id) if link_id and len(link_id) <= 36 else None
    if link is None:
        raise NotFound("no such secure link", field="link_id")
    return link


async def revoke_link(
    s: AsyncSession, *, principal: Principal, link_id: str, now: datetime | None = None
) -> SecureLink:
    """End the link and every session opened with it (staff only); revoking twice changes nothing."""
    require_staff(principal)
    now = now or utcnow()
    link = await _link(s, link_id)
    if link.revoked_at is not None:
        return link
    link.revoked_at = now
    await s.execute(
        update(UserSession)
        .where(
            UserSession.user_kind == KIND_SECURE_LINK,
            UserSession.user_id == link.id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    await publish.sessions_changed(s, "secure_link", user_ids=[link.id])
    await record(s, kind=LINK_REVOKED, subject=subject_of(link.id), at=now, detail={"by": principal.subject_id})
    log.info("secure link %s revoked", link.id)
    return link


async def list_uses(s: AsyncSession, *, principal: Principal, link_id: str) -> list[LinkUse]:
    """The link's audit trail: each use and each refused attempt, newest first (staff only)."""
    require_staff(principal)
    link = await _link(s, link_id)
    rows = await s.scalars(
        select(AuditEntry)
        .where(AuditEntry.kind.in_((LINK_USED, LINK_REFUSED)), AuditEntry.subject == subject_of(link.id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(LIST_MAX)
    )
    return [
        LinkUse(
            at=e.at,
            client_address=e.address,
            user_agent=str(e.detail.get("user_agent", "")),
            outcome="opened" if e.kind == LINK_USED else str(e.detail.get("reason", "")),
        )
        for e in rows.all()
    ]


async def open_link(
    db: Database,
    *,
    token: str,
    client_address: str = "",
    user_agent: str = "",
    policy: SessionPolicy,
) -> OpenedSession:
    """A new session scoped to the link; UNAUTHENTICATED, the same for every reason, when the link is unknown,
    expired, revoked, used up (single use) or its customer archived. Every attempt on a known link is audited."""
    if not token or len(token) > MAX_SESSION_TOKEN:
        raise Unauthenticated(LINK_DEAD)
    user_agent = user_agent[:USER_AGENT_MAX]
    address = client_address[:64]
    async with db.unit_of_work() as s:
        now = utcnow()
        link = await s.scalar(select(SecureLink).where(SecureLink.token_hash == hash_session_token(token)))
        if link is None:
            log.info("secure link refused: unknown token")
            raise Unauthenticated(LINK_DEAD)
        why = refusal(link, await s.get(Customer, link.customer_id), now)
        if not why:
            taken = await s.execute(
                update(SecureLink)
                .where(SecureLink.id == link.id, *([SecureLink.used_at.is_(None)] if link.single_use else []))
                .values(
                    used_at=func.coalesce(SecureLink.used_at, literal(now, UtcDateTime())),
                    use_count=SecureLink.use_count + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                why = "used"
        subject = subject_of(link.id)
        if why:
            detail = {"reason": why, "user_agent": user_agent}
            await record(s, kind=LINK_REFUSED, subject=subject, address=address, at=now, detail=detail)
            opened = None
        else:
            session = UserSession(
                token_hash=hash_session_token(session_token := new_session_token()),
                audience=AUDIENCE_PORTAL,
                user_kind=KIND_SECURE_LINK,
                user_id=link.id,
                client_address=address,
                created_at=now,
                last_seen_at=now,
                expires_at=min(link.expires_at, now + policy.absolute),
            )
            s.add(session)
            await s.flush()
            principal = await link_principal(s, link_id=link.id, session_id=session.id, now=now)
            detail = {"user_agent": user_agent, "session_id": session.id, "customer_id": link.customer_id}
            await record(s, kind=LINK_USED, subject=subject, address=address, at=now, detail=detail)
            opened = OpenedSession(token=session_token, session=session, principal=principal)
    if opened is None:
        log.info("secure link %s refused (%s)", link.id, why)
        raise Unauthenticated(LINK_DEAD)
    log.info("secure link %s opened, session %s", link.id, opened.session.id)
    return opened
