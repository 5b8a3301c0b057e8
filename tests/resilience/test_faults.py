"""Issue 17's resilience suite: the whole platform as real processes, every service on PostgreSQL, under mixed
traffic (tests/resilience/world.py) while a part fails:

- NATS stopped for 30 s: every write still succeeds at once (the outboxes hold the events), and once NATS is back
  every event's effect happens exactly once;
- PostgreSQL stopped and started again: writes meanwhile fail clearly (503 problem+json with a detail, within the
  gateway's deadline), succeed again after, and nothing is half made;
- each service kill -9'd in turn and started again by the test: no event lost, no email or charge twice, and the
  portal home keeps rendering its other sections while one is down.

One stack of its own (free ports, its own PostgreSQL server), shared by the three tests, since they stop its parts.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal_local.ports import free_port
from portal_local.s3 import WeedS3
from portal_local.seed import seed_stack
from portal_local.stack import Stack, StackConfig
from portal_local.topology import SERVICES
from portal_testkit.postgres import DIR_PREFIX, EmbeddedPostgres
from tests.e2e.helpers import ACME, api_sign_in
from tests.resilience.world import Traffic, home_sections

NATS_OUTAGE = 30.0
PG_OUTAGE = 8.0
DOWN_FOR = 3.0  # how long each killed service stays down
# script runs section is shown only to users who may run scripts, which the demo customer's users may not.
# Each home section and widget says so on its own (docs/home.md): tickets also serves the recent tickets and the
# knowledge base (recent FAQ; the charts widget hides instead), billing the four billing sections, assets the
# documents and credentials.
SECTIONS = {
    "tickets": {"tickets-heading", "recent-tickets-heading", "recent-faq-heading"},
    "billing": {"overview-heading", "open-heading", "payments-heading", "estimates-heading"},
    "assets": {"assets-heading", "attachments-heading", "credentials-heading", "recent-documents-heading"},
    "remote": {"runs-heading"},
}


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A server of the module's own: the test stops it, which must not touch the session's."""
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix=DIR_PREFIX)))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fault_stack(
    tmp_path_factory: pytest.TempPathFactory, own_postgres: EmbeddedPostgres, s3_server: WeedS3
) -> Iterator[Stack]:
    env = {f"{svc.upper()}_DATABASE_URL": own_postgres.new_database(svc) for svc in SERVICES}
    env.update(
        {
            # A payment whose answer was lost with a killed billing is settled soon after, not in minutes.
            "BILLING_PROCESSOR_TIMEOUT_SECONDS": "4",
            "BILLING_RECONCILE_AFTER_SECONDS": "8",
            "BILLING_RECONCILE_INTERVAL_SECONDS": "1",
            # Billing serves its sandbox processor itself; a fixed port keeps its address across billing's restart.
            "BILLING_SANDBOX_PORT": str(free_port()),
            # What a down service does to the home's sections: without the read cache, which would otherwise serve
            # a section's last answer while nothing changed it (docs/architecture.md, "The read cache").
            "GATEWAY_READ_CACHE_ENTRIES": "0",
        }
    )
    # The session's S3 server (no test here stops it), as the session's stack uses it: one weed less to start and stop.
    config = StackConfig(var_dir=tmp_path_factory.mktemp("faults-var"), free_ports=True, s3=s3_server, env=env)
    with Stack(config) as stack:
        seed_stack(stack)
        yield stack


def _log(what: str, t0: float) -> None:
    print(f"[resilience] {what}: {time.monotonic() - t0:.1f} s")  # noqa: T201 - the run times the docs quote


async def test_nats_stopped_30_s_writes_succeed_and_every_event_is_delivered_once(fault_stack: Stack) -> None:
    t0 = time.monotonic()
    traffic = await asyncio.to_thread(Traffic.make, fault_stack)
    traffic.pause = 1.0  # about 30 rounds (150 writes) over the outage: enough, and quick to check
    traffic.start()
    await asyncio.sleep(3)
    assert fault_stack.nats is not None
    down_at = traffic.now()
    await asyncio.to_thread(fault_stack.nats.stop)
    await asyncio.sleep(NATS_OUTAGE)
    await asyncio.to_thread(fault_stack.nats.start)
    up_at = traffic.now()
    await asyncio.sleep(3)
    await traffic.stop()

    during = [r for r in traffic.rounds if r.done and r.i > 0]
    assert not traffic.failures(), f"writes do not depend on NATS: {traffic.failures()[:3]}"
    made_during = [a for a in traffic.attempts if down_at < a.at < up_at]
    assert len(made_during) >= 20, f"only {len(made_during)} writes during the outage"
    counts = await asyncio.to_thread(traffic.verify)
    _log(f"NATS outage: {len(during)} rounds, {len(made_during)} writes during it, effects {counts}", t0)


async def test_postgres_restart_writes_fail_clearly_and_succeed_after(
    fault_stack: Stack, own_postgres: EmbeddedPostgres
) -> None:
    t0 = time.monotonic()
    traffic = await asyncio.to_thread(Traffic.make, fault_stack)
    traffic.start()
    await asyncio.sleep(3)
    down_at = traffic.now()
    await asyncio.to_thread(own_postgres.halt)
    await asyncio.sleep(PG_OUTAGE)
    await asyncio.to_thread(own_postgres.resume)
    up_at = traffic.now()
    await asyncio.sleep(8)
    await traffic.stop()

    failed = traffic.failures()
    assert failed, "no write was refused while PostgreSQL was down"
    assert not traffic.unclear(), [vars(a) for a in traffic.unclear()[:5]]
    assert all(down_at - 1 < a.at < up_at + 10 for a in failed), [vars(a) for a in failed if a.at < down_at - 1]
    # Writes succeed again after: every attempt after the last refusal was answered 2xx, and there were some.
    last = max(a.at for a in failed)
    assert len([a for a in traffic.attempts if a.at > last]) >= 5, "too few writes after the restart"
    counts = await asyncio.to_thread(traffic.verify)
    _log(
        f"PostgreSQL restart: {len(failed)} refused attempts ({sorted({a.detail for a in failed})}), "
        f"last refusal {max(a.at for a in failed) - up_at:+.1f} s from the server being back, effects {counts}",
        t0,
    )


async def test_each_service_killed_and_restarted_loses_and_repeats_nothing(fault_stack: Stack) -> None:
    t0 = time.monotonic()
    traffic = await asyncio.to_thread(Traffic.make, fault_stack)
    traffic.pause = 0.5
    home_session = await asyncio.to_thread(api_sign_in, fault_stack, ACME.login, ACME.password)
    traffic.start()
    seen: dict[str, dict[str, bool]] = {}
    back: dict[str, float] = {}  # seconds from a restarted service's readiness to a whole home again
    for svc in SERVICES:
        await asyncio.sleep(1.5)
        proc = fault_stack.processes[svc]
        proc.signal(signal.SIGKILL)
        assert await asyncio.to_thread(proc.wait, 10), f"{svc} survived SIGKILL"
        await asyncio.sleep(1)
        if svc != "identity":  # without identity no session resolves: the whole portal answers 503 meanwhile
            status, sections = await asyncio.to_thread(home_sections, fault_stack, home_session)
            assert status == 200, (svc, status)
            seen[svc] = sections
            down = {k for k, unavailable in sections.items() if unavailable}
            assert down == SECTIONS[svc], (svc, sections)
            assert len(sections) > len(down), (svc, sections)  # the other sections rendered
        await asyncio.sleep(DOWN_FOR - 1)
        proc.start()
        await asyncio.to_thread(_wait_ready, fault_stack, svc)
        back[svc] = await asyncio.to_thread(_home_whole_again, fault_stack, home_session)
    await asyncio.sleep(3)
    await traffic.stop()

    assert not traffic.unclear(), [vars(a) for a in traffic.unclear()[:5]]
    # The gateway calls a restarted service again at once, not after a reconnect backoff grown while it was down.
    assert max(back.values()) < 4, back
    counts = await asyncio.to_thread(traffic.verify)
    _log(f"kill -9 of each service: {len(traffic.failures())} refused attempts, home whole again {back}, {counts}", t0)


def _home_whole_again(stack: Stack, session: str, limit: float = 30) -> float:
    start = time.monotonic()
    while True:
        status, sections = home_sections(stack, session)
        if status == 200 and sections and not any(sections.values()):
            return time.monotonic() - start
        assert time.monotonic() - start < limit, (status, sections)
        time.sleep(0.1)


def _wait_ready(stack: Stack, name: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not stack.is_ready(name):
        proc = stack.processes[name]
        assert proc.running, f"{name} exited while starting again:\n{proc.log_tail()}"
        assert time.monotonic() < deadline, f"{name} not ready again within {limit} s:\n{proc.log_tail()}"
        time.sleep(0.2)
