"""Agents: enrolment tokens, enrolment, listing and revocation. Functions take the caller's session and never
commit; the servicers hold the units of work."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from remote.agents.models import Agent, EnrolmentToken
from remote.events import publish
from servicekit.db import new_id, utcnow
from servicekit.errors import InvalidArgument, NotFound, Unauthenticated

DEFAULT_TOKEN_MINUTES = 60
MAX_TOKEN_MINUTES = 7 * 24 * 60
MAX_LISTED = 1000
MAX_FIELD = {"hostname": 255, "os": 32, "agent_version": 64}


def new_token() -> str:
    """A one-time enrolment token (256 bits, URL-safe) that never begins with "-": staff paste it after `--token` on
    the agent's command line, which would read "-…" as an option (one token in 64 did, and `portal-agent enrol` then
    failed with "expected one argument")."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: str
    expires_at: datetime


async def create_enrolment_token(
    s: AsyncSession, *, asset_id: str, customer_id: str, created_by: str, valid_minutes: int
) -> NewToken:
    if valid_minutes < 0 or valid_minutes > MAX_TOKEN_MINUTES:
        raise InvalidArgument(f"valid_minutes must be 1 to {MAX_TOKEN_MINUTES}", field="valid_minutes")
    now = utcnow()
    token = new_token()
    expires = now + timedelta(minutes=valid_minutes or DEFAULT_TOKEN_MINUTES)
    s.add(
        EnrolmentToken(
            token_hash=token_hash(token),
            asset_id=asset_id,
            customer_id=customer_id,
            created_by=created_by[:200],
            created_at=now,
            expires_at=expires,
        )
    )
    return NewToken(token, expires)


def check_enrol_request(public_key: bytes, hostname: str, os: str, version: str) -> None:
    if len(public_key) != 32:
        raise InvalidArgument("public_key must be a raw 32-byte Ed25519 public key", field="public_key")
    for name, value in (("hostname", hostname), ("os", os), ("agent_version", version)):
        if len(value) > MAX_FIELD[name]:
            raise InvalidArgument(f"{name} is too long", field=name)


async def spend_token(s: AsyncSession, token: str) -> EnrolmentToken:
    """Mark the token used in one conditional UPDATE (unused, unexpired): of two concurrent uses exactly one
    matches. The caller commits this on its own, so the token stays spent whatever follows."""
    now = utcnow()
    hashed = token_hash(token)
    spent = await s.execute(
        update(EnrolmentToken)
        .where(EnrolmentToken.token_hash == hashed, EnrolmentToken.used_at.is_(None), EnrolmentToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthenticated("the enrolment token is unknown, already used or expired")
    return (await s.execute(select(EnrolmentToken).where(EnrolmentToken.token_hash == hashed))).scalar_one()


async def enrol(
    s: AsyncSession, *, token: EnrolmentToken, public_key: bytes, hostname: str, os: str, version: str
) -> Agent:
    """The agent for a spent token's asset; a key already enrolled (a revoked agent's included) never enrols
    again."""
    if (await s.execute(select(Agent.id).where(Agent.public_key == public_key))).first() is not None:
        raise Unauthenticated("this key is already enrolled")
    agent = Agent(
        id=new_id(),
        asset_id=token.asset_id,
        customer_id=token.customer_id,
        public_key=public_key,
        hostname=hostname,
        os=os,
        version=version,
        enrolled_at=utcnow(),
    )
    s.add(agent)
    await s.flush()
    await publish.agent_status_changed(s, agent, "enrolled")
    return agent


def is_online(agent: Agent, *, heartbeat_seconds: int, now: datetime | None = None) -> bool:
    if agent.revoked_at is not None or not agent.connected_replica or agent.last_seen_at is None:
        return False
    return (now or utcnow()) - agent.last_seen_at <= timedelta(seconds=3 * heartbeat_seconds)


async def online_agent_for_asset(s: AsyncSession, asset_id: str, *, heartbeat_seconds: int) -> Agent | None:
    """The asset's agent to send to: the online, unrevoked one seen last."""
    rows = (
        await s.execute(
            select(Agent)
            .where(Agent.asset_id == asset_id, Agent.revoked_at.is_(None), Agent.connected_replica.is_not(None))
            .order_by(Agent.last_seen_at.desc())
        )
    ).scalars()
    for agent in rows:
        if is_online(agent, heartbeat_seconds=heartbeat_seconds):
            return agent
    return None


async def list_agents(s: AsyncSession, *, asset_ids: list[str] | None, customer_id: str | None) -> list[Agent]:
    # No paging in the contract: an asset has a handful of agents, a customer a few hundred at most.
    query = select(Agent).order_by(Agent.enrolled_at.desc(), Agent.id).limit(MAX_LISTED)
    if asset_ids is not None:
        query = query.where(Agent.asset_id.in_(asset_ids))
    if customer_id:
        query = query.where(Agent.customer_id == customer_id)
    return list((await s.execute(query)).scalars())


async def revoke(s: AsyncSession, agent_id: str) -> Agent:
    agent = await s.get(Agent, agent_id)
    if agent is None:
        raise NotFound("no such agent", field="agent_id")
    if agent.revoked_at is None:
        agent.revoked_at = utcnow()
        await publish.agent_status_changed(s, agent, "revoked")
    return agent
