"""The password-hashing pool: OWASP parameters, re-hash of older hashes, admission control (a bounded queue that
answers "busy" at once beyond its bound and never within it), and the attempt id that counts a retried failure once."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, Type, extract_parameters

from identity.audit.models import SIGN_IN_FAILED, AuditEntry
from identity.sessions import service as sessions
from identity.sessions.models import AUDIENCE_PORTAL
from identity.users import hashing
from identity.users.models import PortalUser
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.errors import Unauthenticated

# The profile production used before (argon2-cffi's default, RFC 9106 low-memory): 64 MiB, t=3, p=4.
OLD_PROFILE = {"memory_cost": 65536, "time_cost": 3, "parallelism": 4}


@pytest.fixture
def production_hasher(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """The hasher production builds (the session's cheap one swapped out for this test)."""
    real = PasswordHasher(
        memory_cost=hashing.MEMORY_KIB, time_cost=hashing.TIME_COST, parallelism=hashing.PARALLELISM, type=Type.ID
    )
    monkeypatch.setattr(hashing, "_hasher", real)
    hashing._dummy_hash.cache_clear()
    yield real
    hashing._dummy_hash.cache_clear()


@pytest.fixture
def small_pool() -> hashing.HashingPool:
    """One worker and a queue of two; the process's usual pool is put back afterwards."""
    old = hashing.pool()
    small = hashing.HashingPool(workers=1, queue=2)
    hashing._pool = small
    yield small
    hashing._pool = old
    small.shutdown()


def test_production_parameters_are_owasps_argon2id_19_mib_t2_p1(production_hasher: PasswordHasher) -> None:
    params = extract_parameters(production_hasher.hash("a long enough password"))
    assert params.type is Type.ID
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19 * 1024, 2, 1)


async def test_a_hash_with_the_old_parameters_verifies_and_is_rehashed_at_sign_in(
    db: Database, world, passwords, production_hasher: PasswordHasher
) -> None:
    old_hash = PasswordHasher(**OLD_PROFILE).hash(passwords["alice"])
    async with db.unit_of_work() as s:
        (await s.get(PortalUser, world.alice)).password_hash = old_hash
    opened = await sessions.sign_in(
        db,
        login="alice@acme.test",
        password=passwords["alice"],
        audience=AUDIENCE_PORTAL,
        policy=sessions.SessionPolicy(),
    )
    assert opened.principal.subject_id == world.alice
    async with db.unit_of_work() as s:
        stored = (await s.get(PortalUser, world.alice)).password_hash
    assert stored != old_hash
    new = extract_parameters(stored)
    assert (new.memory_cost, new.time_cost, new.parallelism) == (19 * 1024, 2, 1)
    assert production_hasher.verify(stored, passwords["alice"])
    # Once re-hashed, the next sign-in leaves it alone.
    await sessions.sign_in(
        db,
        login="alice@acme.test",
        password=passwords["alice"],
        audience=AUDIENCE_PORTAL,
        policy=sessions.SessionPolicy(),
    )
    async with db.unit_of_work() as s:
        assert (await s.get(PortalUser, world.alice)).password_hash == stored


async def test_within_the_bound_every_job_runs_and_one_more_is_refused_at_once(small_pool) -> None:
    gate = threading.Event()

    def blocked(n: int) -> int:
        gate.wait(10)
        return n

    jobs = [asyncio.create_task(small_pool.run(blocked, n)) for n in range(3)]  # one running, two waiting
    await asyncio.sleep(0.05)
    assert small_pool.waiting == 2
    started = time.perf_counter()
    with pytest.raises(hashing.Busy) as busy:
        await small_pool.run(blocked, 99)
    assert time.perf_counter() - started < 0.1
    assert busy.value.retry_after >= 1 and busy.value.field == "busy"
    gate.set()
    assert await asyncio.gather(*jobs) == [0, 1, 2]
    assert await small_pool.run(lambda: "room again") == "room again"


async def test_a_job_whose_caller_gave_up_before_a_worker_took_it_never_runs(small_pool) -> None:
    gate = threading.Event()
    ran: list[str] = []

    def job(name: str) -> None:
        gate.wait(10)
        ran.append(name)

    first = asyncio.create_task(small_pool.run(job, "first"))
    second = asyncio.create_task(small_pool.run(job, "abandoned"))
    await asyncio.sleep(0.05)
    second.cancel()
    await asyncio.sleep(0)
    assert small_pool.waiting == 0
    gate.set()
    await first
    await asyncio.sleep(0.05)
    assert ran == ["first"]


async def test_over_the_bound_sign_in_answers_busy_with_a_retry_hint_and_counts_nothing(
    db: Database, world, passwords, stub
) -> None:
    small = hashing.configure(workers=1, queue=0)
    gate = threading.Event()
    holder = asyncio.create_task(small.run(gate.wait, 10))
    await asyncio.sleep(0.05)
    try:
        started = time.perf_counter()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SignIn(
                identity_pb2.SignInRequest(
                    login="alice@acme.test", password="wrong", audience=identity_pb2.AUDIENCE_PORTAL
                ),
                timeout=10,
            )
        assert time.perf_counter() - started < 1
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert err.value.details() == f"busy: {hashing.BUSY}"
        assert dict(err.value.trailing_metadata())[hashing.RETRY_AFTER].isdigit()
    finally:
        gate.set()
        await holder
        hashing.configure()
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.select(sa.func.count()).where(AuditEntry.kind == SIGN_IN_FAILED)) == 0


async def _failures(db: Database) -> int:
    async with db.unit_of_work() as s:
        return await s.scalar(sa.select(sa.func.count()).where(AuditEntry.kind == SIGN_IN_FAILED))


async def test_a_retried_attempt_counts_its_wrong_password_once(db: Database, world) -> None:
    async def attempt(attempt_id: str) -> None:
        with pytest.raises(Unauthenticated):
            await sessions.sign_in(
                db,
                login="alice@acme.test",
                password="not-alices-password",
                audience=AUDIENCE_PORTAL,
                client_address="203.0.113.9",
                policy=sessions.SessionPolicy(),
                attempt_id=attempt_id,
            )

    await attempt("attempt-one-0123456789")
    await attempt("attempt-one-0123456789")
    await attempt("attempt-one-0123456789")
    assert await _failures(db) == 1
    await attempt("attempt-two-0123456789")
    await attempt("")
    assert await _failures(db) == 3
