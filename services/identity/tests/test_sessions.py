"""Sign-in, sessions and principals at the service level, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from identity.audit.models import SIGN_IN, SIGN_IN_FAILED, SIGN_OUT, AuditEntry
from identity.sessions import service as sessions
from identity.sessions.models import AUDIENCE_PORTAL, AUDIENCE_STAFF, UserSession
from identity.sessions.tokens import PrincipalTokens, hash_session_token
from identity.users import hashing
from identity.users.models import PortalUser
from servicekit.db import Database
from servicekit.errors import InvalidArgument, Unauthenticated
from servicekit.permissions import BUILT_IN_GROUPS, NON_PORTAL_USER_GROUP, TICKETS_VIEW_MINE
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF


async def sign_in(db: Database, login: str, password: str, audience: str = AUDIENCE_PORTAL, **kw):  # noqa: ANN201
    return await sessions.sign_in(
        db,
        login=login,
        password=password,
        audience=audience,
        client_address="203.0.113.7",
        policy=kw.get("policy") or sessions.SessionPolicy(),
    )


async def audit(db: Database) -> list[AuditEntry]:
    async with db.unit_of_work() as s:
        return list((await s.scalars(sa.select(AuditEntry).order_by(AuditEntry.at))).all())


async def test_a_portal_user_signs_in_with_any_case_and_gets_its_principal(db: Database, world, passwords) -> None:
    opened = await sign_in(db, "  ALICE@acme.TEST ", passwords["alice"])
    p = opened.principal
    assert p.kind == KIND_PORTAL_USER
    assert (p.subject_id, p.customer_id, p.contact_id) == (world.alice, world.customer_a, world.contact_a)
    assert p.customer_ids == (world.customer_a,)
    assert p.permissions == BUILT_IN_GROUPS["Admin Portal Group"]
    assert (p.display_name, p.email, p.session_id) == ("Alice Moreno", "alice@acme.test", opened.session.id)
    assert len(opened.token) >= 43
    async with db.unit_of_work() as s:
        stored = await s.get(UserSession, opened.session.id)
    assert stored.token_hash == hash_session_token(opened.token) != opened.token
    assert stored.expires_at - stored.created_at == timedelta(hours=12)
    [entry] = await audit(db)
    assert (entry.kind, entry.subject, entry.address) == (SIGN_IN, "portal:alice@acme.test", "203.0.113.7")


async def test_a_customer_level_user_by_username_has_its_groups_permissions(db: Database, world, passwords) -> None:
    p = (await sign_in(db, "Bob.Blue", passwords["bob"])).principal
    assert (p.customer_id, p.contact_id, p.display_name) == (world.customer_b, "", "Bea Blue")
    assert p.permissions == BUILT_IN_GROUPS[NON_PORTAL_USER_GROUP] == {TICKETS_VIEW_MINE}


async def test_staff_sign_in_only_on_the_staff_audience(db: Database, world, passwords) -> None:
    p = (await sign_in(db, "admin@example.test", passwords["staff"], AUDIENCE_STAFF)).principal
    assert (p.kind, p.subject_id, p.display_name) == (KIND_STAFF, world.staff, "Ada Admin")
    with pytest.raises(Unauthenticated):
        await sign_in(db, "admin@example.test", passwords["staff"], AUDIENCE_PORTAL)
    with pytest.raises(Unauthenticated):
        await sign_in(db, "alice@acme.test", passwords["alice"], AUDIENCE_STAFF)


async def test_wrong_password_and_unknown_login_fail_alike_and_are_audited(db: Database, world, passwords) -> None:
    with pytest.raises(Unauthenticated) as wrong:
        await sign_in(db, "alice@acme.test", passwords["alice"] + "x")
    with pytest.raises(Unauthenticated) as unknown:
        await sign_in(db, "nobody@acme.test", passwords["alice"])
    assert wrong.value.detail == unknown.value.detail == "the login or password is not correct"
    assert wrong.value.field is None and unknown.value.field is None
    entries = await audit(db)
    assert [(e.kind, e.subject, e.detail["reason"]) for e in entries] == [
        (SIGN_IN_FAILED, "portal:alice@acme.test", "wrong_password"),
        (SIGN_IN_FAILED, "portal:nobody@acme.test", "unknown_login"),
    ]
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0


async def test_an_unknown_login_still_runs_a_password_check(db: Database, world, monkeypatch) -> None:
    checked: list[str] = []

    class Spy(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
            checked.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(hashing, "_hasher", Spy(time_cost=1, memory_cost=64, parallelism=1))
    hashing._dummy_hash.cache_clear()
    with pytest.raises(Unauthenticated):
        await sign_in(db, "nobody@acme.test", "whatever-password")
    assert checked == [hashing._dummy_hash()]
    hashing._dummy_hash.cache_clear()


async def test_a_user_without_a_password_cannot_sign_in(db: Database, world, passwords) -> None:
    async with db.unit_of_work() as s:
        (await s.get(PortalUser, world.alice)).password_hash = None
    with pytest.raises(Unauthenticated):
        await sign_in(db, "alice@acme.test", passwords["alice"])


@pytest.mark.parametrize(
    ("login", "password", "audience", "field"),
    [
        ("", "x", AUDIENCE_PORTAL, "login"),
        ("   ", "x", AUDIENCE_PORTAL, "login"),
        ("alice@acme.test", "", AUDIENCE_PORTAL, "password"),
        ("alice@acme.test", "x", "", "audience"),
        ("a" * 255, "x", AUDIENCE_PORTAL, "login"),
        ("alice@acme.test", "x" * 1_000_000, AUDIENCE_PORTAL, "password"),
    ],
)
async def test_empty_or_oversized_input_is_invalid_argument(
    db: Database, login: str, password: str, audience: str, field: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        await sign_in(db, login, password, audience)
    assert err.value.field == field


async def test_resolve_touches_last_seen_at_most_once_a_minute(db: Database, world, passwords) -> None:
    opened = await sign_in(db, "alice@acme.test", passwords["alice"])
    policy = sessions.SessionPolicy()
    start = opened.session.last_seen_at
    async with db.unit_of_work() as s:
        session, p = await sessions.resolve_session(
            s, token=opened.token, policy=policy, now=start + timedelta(seconds=30)
        )
    assert session.last_seen_at == start and p.subject_id == world.alice
    later = start + timedelta(seconds=61)
    async with db.unit_of_work() as s:
        await sessions.resolve_session(s, token=opened.token, policy=policy, now=later)
    async with db.unit_of_work() as s:
        assert (await s.get(UserSession, opened.session.id)).last_seen_at == later


async def test_idle_absolute_and_revoked_sessions_are_refused(db: Database, world, passwords) -> None:
    policy = sessions.SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    opened = await sign_in(db, "alice@acme.test", passwords["alice"])
    t0 = opened.session.created_at

    async def resolve(token: str, at):  # noqa: ANN001, ANN202
        async with db.unit_of_work() as s:
            return await sessions.resolve_session(s, token=token, policy=policy, now=at)

    with pytest.raises(Unauthenticated):
        await resolve(opened.token, t0 + timedelta(minutes=31))  # idle
    # Kept alive every 20 minutes, it still ends at the absolute limit.
    at = t0
    while at + timedelta(minutes=20) < t0 + timedelta(hours=12):
        at += timedelta(minutes=20)
        await resolve(opened.token, at)
    with pytest.raises(Unauthenticated):
        await resolve(opened.token, t0 + timedelta(hours=12))

    other = await sign_in(db, "alice@acme.test", passwords["alice"])
    async with db.unit_of_work() as s:
        await sessions.sign_out(s, token=other.token)
    async with db.unit_of_work() as s:
        await sessions.sign_out(s, token=other.token)  # twice is fine
        await sessions.sign_out(s, token="not-a-token")
        await sessions.sign_out(s, token="")
    with pytest.raises(Unauthenticated):
        await resolve(other.token, other.session.created_at)
    for token in ("", "nope", "x" * 10_000):
        with pytest.raises(Unauthenticated):
            await resolve(token, t0)
    assert [e.kind for e in await audit(db)].count(SIGN_OUT) == 1


async def test_the_principal_token_never_outlives_the_session(db: Database, world, passwords, signing_key) -> None:
    tokens = PrincipalTokens(signing_key, 300)
    opened = await sign_in(db, "alice@acme.test", passwords["alice"])
    now = opened.session.expires_at.timestamp() - 60
    token, expires = tokens.sign(opened.principal, not_after=opened.session.expires_at, now=now)
    assert expires == int(opened.session.expires_at.timestamp())
    _, full = tokens.sign(opened.principal, not_after=opened.session.expires_at, now=now - 3600)
    assert full == int(now - 3600) + 300
    assert tokens.verifier().verify(tokens.sign(opened.principal, not_after=opened.session.expires_at)[0])
