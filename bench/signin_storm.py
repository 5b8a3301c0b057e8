"""Soak: 150 portal users for a few minutes, signing in through the form again and again, with page views between.

Each user (made through identity's staff RPCs) loops: sign in through the form (following "Signing you in…"
pages as a browser would), view the home page and the ticket list a few times with a think time, then start again
with a new session. All start at the same moment, so the first round is a 150-user sign-in storm.

Prints the error count (anything but the expected answers; a "Signing you in…" page that then signs in is not an
error, and is counted apart), p50/p99 of sign-ins and of page views, and each process's resident memory after
the users were made and at the end, with its growth. Run: `uv run --locked python bench/signin_storm.py
[--users 150] [--seconds 180]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from portal_local.seed import seed_stack
from portal_local.stack import Stack, StackConfig
from portal_testkit.signin_storm import User, client, form_sign_in, make_portal_users, percentile

PAGES = ("/", "/tickets")
VIEWS_PER_SESSION = 4
THINK_SECONDS = (1.0, 3.0)


def backend_failures(stack: Stack) -> list[str]:
    """The gateway's backend calls that did not answer OK, by backend and code (its Prometheus counter)."""
    text = httpx.get(stack.metrics_url("gateway"), timeout=10).text
    found = re.findall(r'^portal_gateway_backend_calls_total\{backend="(\w+)",code="(\w+)"\} (\S+)$', text, re.M)
    return [f"{backend} {code}: {float(n):g}" for backend, code, n in found if code != "OK" and float(n)]


def memory(stack: Stack) -> dict[str, float]:
    return {
        name: psutil.Process(proc.pid).memory_info().rss / 2**20
        for name, proc in stack.processes.items()
        if proc.pid and proc.running
    }


class Tally:
    def __init__(self) -> None:
        self.sign_ins: list[float] = []
        self.views: list[float] = []
        self.busy_pages = 0
        self.errors: list[str] = []


async def user_loop(c: httpx.AsyncClient, user: User, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        busy: list[str] = []
        try:
            token = await form_sign_in(c, user, busy)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            tally.errors.append(f"sign-in {user.login}: {exc!r}"[:300])
            await asyncio.sleep(1)
            continue
        tally.sign_ins.append(time.perf_counter() - started)
        tally.busy_pages += len(busy)
        for _ in range(VIEWS_PER_SESSION):
            if time.monotonic() >= until:
                return
            await asyncio.sleep(random.uniform(*THINK_SECONDS))
            path = random.choice(PAGES)
            started = time.perf_counter()
            try:
                r = await c.get(path, headers={"Cookie": f"portal_session={token}"})
                ok = r.status_code == 200
            except httpx.HTTPError as exc:
                ok, r = False, exc
            if ok:
                tally.views.append(time.perf_counter() - started)
            else:
                tally.errors.append(f"GET {path}: {getattr(r, 'status_code', r)!r}"[:300])


async def soak(stack: Stack, users: list[User], seconds: int) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    async with client(stack) as c:
        await asyncio.gather(*(user_loop(c, u, until, tally) for u in users))
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=150)
    parser.add_argument("--seconds", type=int, default=180)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var:
        with Stack(StackConfig(var_dir=Path(var), free_ports=True)) as stack:
            seed_stack(stack)
            made = time.perf_counter()
            users = asyncio.run(make_portal_users(stack, args.users))
            print(f"{len(users)} users made in {time.perf_counter() - made:.0f} s", flush=True)
            before = memory(stack)
            started = time.perf_counter()
            tally = asyncio.run(soak(stack, users, args.seconds))
            took = time.perf_counter() - started
            after = memory(stack)
            failed_calls = backend_failures(stack)

    print(f"\n{args.users} users for {took:.0f} s (asked {args.seconds} s), 2 cores shared with whatever else runs:")
    print(f"  errors: {len(tally.errors)}")
    for line in tally.errors[:10]:
        print(f"    {line}")
    print(
        f"  sign-ins: {len(tally.sign_ins)}, p50 {percentile(tally.sign_ins, 0.5):.2f} s, "
        f"p99 {percentile(tally.sign_ins, 0.99):.2f} s; 'Signing you in…' pages followed: {tally.busy_pages}"
    )
    print(f"  the gateway's backend calls that failed: {', '.join(failed_calls) or 'none'}")
    print(
        f"  page views: {len(tally.views)}, p50 {percentile(tally.views, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(tally.views, 0.99) * 1000:.0f} ms"
    )
    print("\nresident memory (MB): after the users were made → at the end (growth)")
    for name in sorted(after):
        print(f"  {name:12} {before.get(name, 0):7.1f} → {after[name]:7.1f} ({after[name] - before.get(name, 0):+.1f})")
    return 0 if not tally.errors else 1


if __name__ == "__main__":
    sys.exit(main())
