"""Benchmark: the portal's ticket list and search at 10 000 and at 1 000 000 tickets, side by side.

It starts its own embedded PostgreSQL with two databases, applies the tickets migrations to each, generates the
tickets inside PostgreSQL with generate_series (the large one with its plain indexes dropped for the load and
rebuilt from their own definitions, much faster than updating them row by row), and runs the real service
(`python -m tickets`, with its own nats-server) once per database, as separate processes. The calls are the
portal's, over gRPC with a portal principal of the customer being measured:

- first page of All tickets (newest first), and a later page reached through the keyset cursors;
- first page of open tickets only, and sorted by last update;
- a search for a common word (in one ticket in 20, of this customer's and of the others'), for two words, and
  for a rare one (in 3 tickets, one of them by a comment, at both sizes), which only an index answers without
  reading every ticket of the customer.

The measured customer holds a tenth of all tickets (1 000, then 100 000); the rest belong to 997 others. After
5 warm-up rounds, each round times every call on both sizes in turn (alternating which goes first), so load from
elsewhere on the machine falls on both alike. It prints the median and p95 of each call at both sizes and the
ratio of the medians, which must stay within 2× (the exit status says whether it did).

Run: `uv run python bench/tickets_list.py [--small 10000] [--large 1000000] [--samples 60]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from portal.common.v1 import common_pb2
from portal.tickets.v1 import tickets_pb2, tickets_pb2_grpc
from portal_local.nats import NatsServer
from portal_local.ports import free_port
from portal_testkit.postgres import EmbeddedPostgres
from servicekit import migrations
from servicekit.permissions import TICKETS_CREATE, TICKETS_STATUS_FILTERS, TICKETS_VIEW_ALL
from servicekit.principal import KIND_PORTAL_USER, Principal, TokenSigner
from tickets.main import MIGRATIONS

CUSTOMER = "cust-big"
PAGE = 25
LATER_PAGE = 10
COMMON_WORD = "network"
RARE_WORD = "kx7q9z"
# Tickets (all of the measured customer, all below the small size) that carry the rare word; the last in a comment.
RARE_IN_TEXT = (1_000, 5_000)
RARE_IN_COMMENT = 9_000
LIMIT_RATIO = 2.0

# One statement for any range of ticket numbers: every tenth ticket is the measured customer's.
TICKETS_SQL = """
INSERT INTO tickets (id, number, customer_id, contact_id, subject, description, status, priority, issue_type,
                     created_by, created_at, updated_at, closed_at, idempotency_key, assignee_id, site_id, asset_id,
                     invoice_id, invoice_number, search_text, private_text)
SELECT md5('ticket' || i)::uuid::text, i,
       CASE WHEN i % 10 = 0 THEN :customer ELSE 'cust-' || (i % 997) END,
       'contact-' || (i % 7),
       s.subject, s.description,
       (ARRAY['New','In Progress','Waiting on Customer','Scheduled','Resolved','Closed'])[1 + i % 6],
       (ARRAY['Low','Normal','High','Urgent'])[1 + i % 4],
       'General', 'user-' || (i % 7),
       timestamptz '2020-01-01' + i * interval '37 seconds',
       timestamptz '2020-01-01' + i * interval '37 seconds' + (i % 101) * interval '1 hour',
       CASE WHEN i % 6 >= 4 THEN timestamptz '2020-01-01' + i * interval '37 seconds' + interval '2 days' END,
       NULL, '', '', '', '', '',
       lower(s.subject || chr(10) || s.description || CASE WHEN i % 2 = 0 THEN chr(10) || c.body ELSE '' END),
       CASE WHEN i % 5 = 0 THEN lower(chr(10) || 'Internal: check the contract for ' || i) ELSE '' END
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS i
CROSS JOIN LATERAL (SELECT
    (ARRAY['Printer jam','VPN drops every hour','Laptop will not boot','Email bounces','Slow file share',
           'New starter account','Password expired','Phone line noisy','Backup failed','Monitor flickers'])
        [1 + i % 10] || ' (' || i || ')' AS subject,
    'Reported by the front desk. ' ||
    CASE WHEN i % 200 = 10 OR i % 20 = 3 THEN 'The ' || :common || ' cabinet was opened last week. ' ELSE '' END ||
    CASE WHEN i IN (:rare_a, :rare_b) THEN 'Serial ' || :rare || '. ' ELSE '' END ||
    'Ticket ' || i || ' needs a visit between nine and five.' AS description) AS s
CROSS JOIN LATERAL (SELECT
    'We had a look at it; ' || CASE WHEN i = :rare_c THEN 'the part ' || :rare || ' is on order.' ELSE
    'waiting for the customer.' END AS body) AS c
"""

COMMENTS_SQL = """
INSERT INTO comments (id, ticket_id, customer_id, body, is_public, author_kind, author_id, author_name, created_at)
SELECT md5('comment' || i || '-' || n)::uuid::text, md5('ticket' || i)::uuid::text,
       CASE WHEN i % 10 = 0 THEN :customer ELSE 'cust-' || (i % 997) END,
       CASE WHEN n = 1 THEN 'We had a look at it; ' || CASE WHEN i = :rare_c THEN 'the part ' || :rare
            || ' is on order.' ELSE 'waiting for the customer.' END
            ELSE 'Internal: check the contract for ' || i END,
       n = 1, 'staff', 'staff-1', 'Tess Tech',
       timestamptz '2020-01-01' + i * interval '37 seconds' + n * interval '1 hour'
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS i
CROSS JOIN LATERAL (SELECT 1 AS n WHERE i % 2 = 0 UNION ALL SELECT 2 WHERE i % 5 = 0) AS k
"""


@dataclass(frozen=True)
class Call:
    name: str
    request: tickets_pb2.ListTicketsRequest


@dataclass
class Timing:
    median_ms: float
    p95_ms: float
    rows: int


def _request(**kw: object) -> tickets_pb2.ListTicketsRequest:
    return tickets_pb2.ListTicketsRequest(page=common_pb2.PageRequest(page_size=PAGE), **kw)


async def generate(conn: AsyncConnection, first: int, last: int) -> None:
    """Tickets `first`..`last` and their comments, as the service would have written them."""
    params = {
        "first": first,
        "last": last,
        "customer": CUSTOMER,
        "common": COMMON_WORD,
        "rare": RARE_WORD,
        "rare_a": RARE_IN_TEXT[0],
        "rare_b": RARE_IN_TEXT[1],
        "rare_c": RARE_IN_COMMENT,
    }
    step = 200_000
    for lo in range(first, last + 1, step):
        hi = min(lo + step - 1, last)
        await conn.execute(text(TICKETS_SQL), {**params, "first": lo, "last": hi})
        await conn.execute(text(COMMENTS_SQL), {**params, "first": lo, "last": hi})
    await conn.execute(text("UPDATE counters SET last_value = :n WHERE name = 'ticket_number'"), {"n": last})


async def load(url: str, first: int, last: int, *, rebuild_indexes: bool) -> float:
    """Generate tickets `first`..`last`; returns the seconds it took (load, indexes, ANALYZE)."""
    started = time.perf_counter()
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET synchronous_commit = off"))
            await conn.execute(text("SET maintenance_work_mem = '512MB'"))
            saved: list[tuple[str, str]] = []
            if rebuild_indexes:
                # Plain indexes only: those behind primary keys and unique constraints stay (and keep checking).
                saved = [
                    (r.indexname, r.indexdef)
                    for r in await conn.execute(
                        text(
                            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN "
                            "('tickets', 'comments') AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                            "WHERE c.conname = i.indexname)"
                        )
                    )
                ]
                for name, _ in saved:
                    await conn.execute(text(f'DROP INDEX "{name}"'))
            await generate(conn, first, last)
            for _, definition in saved:
                await conn.execute(text(definition))
            await conn.execute(text("VACUUM ANALYZE tickets"))
            await conn.execute(text("VACUUM ANALYZE comments"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def measure(sides: list[tuple[tickets_pb2_grpc.TicketsServiceStub, list[Call]]], md: tuple, rounds: int) -> list:
    """Time every call on every side, round after round, alternating which side goes first: a burst of load from
    elsewhere on the machine then falls on both sizes alike."""
    names = [c.name for c in sides[0][1]]
    times: list[dict[str, list[float]]] = [{n: [] for n in names} for _ in sides]
    rows: list[dict[str, int]] = [{} for _ in sides]
    for r in range(rounds + 5):
        for i, name in enumerate(names):
            order = list(range(len(sides)))
            if (r + i) % 2:
                order.reverse()
            for side in order:
                stub, calls = sides[side]
                t0 = time.perf_counter()
                reply = await stub.ListTickets(calls[i].request, metadata=md, timeout=30)
                elapsed = (time.perf_counter() - t0) * 1000
                if r >= 5:  # the first rounds warm caches and connections
                    times[side][name].append(elapsed)
                rows[side][name] = len(reply.tickets)
    out = []
    for side in range(len(sides)):
        timings = {}
        for name in names:
            t = sorted(times[side][name])
            timings[name] = Timing(statistics.median(t), t[max(0, int(len(t) * 0.95) - 1)], rows[side][name])
        out.append(timings)
    return out


async def calls_for(stub: tickets_pb2_grpc.TicketsServiceStub, md: tuple) -> list[Call]:
    """The calls to time; the later page's cursor is found by walking the first pages."""
    cursor = ""
    for _ in range(LATER_PAGE - 1):
        reply = await stub.ListTickets(
            tickets_pb2.ListTicketsRequest(page=common_pb2.PageRequest(page_size=PAGE, cursor=cursor)),
            metadata=md,
            timeout=30,
        )
        cursor = reply.page.next_cursor
    return [
        Call("list: first page", _request()),
        Call(
            f"list: page {LATER_PAGE} (keyset)",
            tickets_pb2.ListTicketsRequest(page=common_pb2.PageRequest(page_size=PAGE, cursor=cursor)),
        ),
        Call("list: open only", _request(open_only=True)),
        Call("list: by last update", _request(sort="updated")),
        Call(f"search: common word ({COMMON_WORD})", _request(query=COMMON_WORD)),
        Call(f"search: rare word ({RARE_WORD})", _request(query=RARE_WORD)),
        Call(f"search: two words ({COMMON_WORD} cabinet)", _request(query=f"{COMMON_WORD} cabinet")),
    ]


async def wait_serving(addr: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    async with grpc.aio.insecure_channel(addr) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 60
        while True:
            if proc.returncode is not None:
                raise SystemExit(f"tickets exited:\n{(await asyncio.to_thread(log.read_text))[-3000:]}")
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"tickets did not start:\n{(await asyncio.to_thread(log.read_text))[-3000:]}")
            await asyncio.sleep(0.2)


async def start_service(root: Path, name: str, url: str, public_key: Path, nats_url: str) -> tuple:
    """`python -m tickets` on database `url`; returns the process and its address once it serves."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETS_")}
    env.update(
        {
            "TICKETS_DATABASE_URL": url,
            "TICKETS_PRINCIPAL_PUBLIC_KEY_FILE": str(public_key),
            "TICKETS_NATS_URL": nats_url,
            "TICKETS_GRPC_PORT": str(port),
            # No ticket is created here, so assets is never asked.
            "TICKETS_ASSETS_ADDR": f"127.0.0.1:{free_port()}",
            "TICKETS_BLOB_STORE": (root / f"blobs-{name}").as_uri(),
            "TICKETS_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = root / f"tickets-{name}.log"
    with log.open("wb") as out:  # noqa: ASYNC230 - opening the child's log file
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickets", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    addr = f"127.0.0.1:{port}"
    await wait_serving(addr, proc, log)
    return proc, addr


async def run(args: argparse.Namespace, root: Path) -> int:
    pg = EmbeddedPostgres(root / "pg")
    nats = NatsServer(root / "nats", log_path=root / "nats.log").start()
    procs = []
    try:
        key = Ed25519PrivateKey.generate()
        public = root / "principal.pub.pem"
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        addrs = []
        # One database and one service per size, both up at once, so they are measured side by side.
        for size in (args.small, args.large):
            url = pg.new_database(f"bench_tickets_{size}")
            await migrations.upgrade(MIGRATIONS, url)
            seconds = await load(url, 1, size, rebuild_indexes=size > args.small)
            print(f"generated {size:,} tickets in {seconds:.0f} s", flush=True)
            proc, addr = await start_service(root, str(size), url, public, nats.url)
            procs.append(proc)
            addrs.append(addr)
        user = Principal(
            kind=KIND_PORTAL_USER,
            subject_id="bench-user",
            customer_id=CUSTOMER,
            contact_id="contact-1",
            permissions=frozenset({TICKETS_VIEW_ALL, TICKETS_CREATE, TICKETS_STATUS_FILTERS}),
        )
        signer = TokenSigner(key, ttl_seconds=24 * 3600)
        md = (("authorization", f"Bearer {signer.sign(user)[0]}"),)
        channels = [grpc.aio.insecure_channel(a) for a in addrs]
        try:
            stubs = [tickets_pb2_grpc.TicketsServiceStub(c) for c in channels]
            sides = [(stub, await calls_for(stub, md)) for stub in stubs]
            small, large = await measure(sides, md, args.samples)
        finally:
            for c in channels:
                await c.close()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        nats.stop()
        pg.stop()

    print(
        f"\nticket list and search, customer {CUSTOMER} (a tenth of all tickets), page of {PAGE}, "
        f"{args.samples} rounds, each call on both sizes in turn, over gRPC to `python -m tickets` on PostgreSQL\n"
    )
    head = (
        f"{'call':<34} {'rows':>4}  {f'{args.small:,} median/p95 ms':>26}  {f'{args.large:,} median/p95 ms':>28}  ratio"
    )
    print(head)
    print("-" * len(head))
    worst = 0.0
    for name, a in small.items():
        b = large[name]
        ratio = b.median_ms / a.median_ms
        worst = max(worst, ratio)
        small_cell = f"{a.median_ms:>12.2f} / {a.p95_ms:<11.2f}"
        large_cell = f"{b.median_ms:>14.2f} / {b.p95_ms:<11.2f}"
        print(f"{name:<36} {b.rows:>4}  {small_cell}  {large_cell}  {ratio:4.2f}x")
    verdict = "within" if worst <= LIMIT_RATIO else "NOT within"
    print(f"\nworst ratio of medians {worst:.2f}x: {verdict} {LIMIT_RATIO:.0f}x")
    return 0 if worst <= LIMIT_RATIO else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=60, help="rounds of timed calls (after 5 warm-up rounds)")
    args = parser.parse_args()
    if args.small < RARE_IN_COMMENT or args.large <= args.small:
        parser.error(f"need {RARE_IN_COMMENT} <= --small < --large")
    with tempfile.TemporaryDirectory(prefix="bench-tickets-") as tmp:
        raise SystemExit(asyncio.run(run(args, Path(tmp))))


if __name__ == "__main__":
    main()
