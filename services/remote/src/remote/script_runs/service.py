"""Script run queries. Functions take the caller's session or read connection and never commit.

Who sees a run: runs belong to a customer's device, so they follow the Assets permissions. "All" sees the
runs of the customers it covers. "Mine" sees the runs its own contact asked for (a staff member's run is for no
contact, so only "All" and staff see it).

A run's output is kept as chunks at their byte offsets (script_run_output), at most the service's bound in all;
what passes the bound is dropped and the run marked truncated.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, Select, bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from remote import metrics
from remote.events import publish
from remote.script_runs.models import (
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    ScriptRun,
    ScriptRunOutput,
)
from servicekit.db import utcnow
from servicekit.errors import NotFound
from servicekit.pagination import keyset, keyset_cursor
from servicekit.permissions import ASSETS_VIEW_ALL, ASSETS_VIEW_MINE
from servicekit.principal import Principal, visibility

# A run the agent never reported finished (its replica died, the agent vanished) fails this long after its timeout.
SWEEP_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class ScriptRunPage:
    # Rows of the script_runs table (attribute access like the model's).
    script_runs: list[Row]
    next_cursor: str


async def list_script_runs(
    conn: AsyncConnection | AsyncSession, *, principal: Principal, page_size: int, cursor: str = "", asset_id: str = ""
) -> ScriptRunPage:
    """The script runs the principal may see, newest first (started_at, id), one page: with All, those on its
    customers' devices; with Mine, those of its customer recorded for its contact.

    A Core select of the table, built once per shape, so it runs on `Database.read()`'s plain connection (the
    portal home calls it on every visit; see servicekit.db.Database.read).
    """
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    before = keyset(cursor)
    params: dict[str, object] = {"limit": page_size + 1}
    if scope.customer_ids is not None:
        params["customer_ids"] = list(scope.customer_ids)
    if scope.contact_id is not None:
        params["contact_id"] = scope.contact_id
    if before is not None:
        params["before_started_at"], params["before_id"] = before
    if asset_id:
        params["asset_id"] = asset_id
    query = _page_query(
        scope.customer_ids is not None, scope.contact_id is not None, before is not None, bool(asset_id)
    )
    rows = (await conn.execute(query, params)).all()
    page, more = rows[:page_size], len(rows) > page_size
    return ScriptRunPage(page, keyset_cursor(page[-1].started_at, page[-1].id) if more else "")


@functools.cache
def _page_query(by_customer: bool, by_contact: bool, before: bool, by_asset: bool = False) -> Select:
    runs = ScriptRun.__table__
    query = select(runs)
    if by_customer:
        query = query.where(runs.c.customer_id.in_(bindparam("customer_ids", expanding=True)))
    if by_contact:
        # A principal without a contact ('') matches no run: runs for no contact are NULL, not ''.
        query = query.where(runs.c.contact_id == bindparam("contact_id"))
    if by_asset:
        query = query.where(runs.c.asset_id == bindparam("asset_id"))
    if before:
        key = tuple_(bindparam("before_started_at", type_=runs.c.started_at.type), bindparam("before_id"))
        query = query.where(tuple_(runs.c.started_at, runs.c.id) < key)
    return query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(bindparam("limit"))


async def get_visible_run(s: AsyncSession, *, principal: Principal, run_id: str) -> ScriptRun:
    """The run when the principal may see it (the list's rules); NotFound otherwise."""
    scope = visibility(principal, view_all=ASSETS_VIEW_ALL, view_mine=ASSETS_VIEW_MINE)
    run = await s.get(ScriptRun, run_id) if run_id else None
    if run is None or not scope.allows(run.customer_id, run.contact_id or ""):
        raise NotFound("no such script run", field="run_id")
    return run


async def output_chunks(s: AsyncSession | AsyncConnection, run_id: str, offset: int = 0) -> list[tuple[int, bytes]]:
    """The run's stored output from byte `offset` as (position, data), in order; the first chunk is cut at
    `offset`."""
    rows = (
        await s.execute(
            select(ScriptRunOutput.position, ScriptRunOutput.data)
            .where(ScriptRunOutput.run_id == run_id)
            .order_by(ScriptRunOutput.position)
        )
    ).all()
    out = []
    for position, data in rows:
        end = position + len(data)
        if end <= offset:
            continue
        if position < offset:
            data, position = data[offset - position :], offset
        out.append((position, bytes(data)))
    return out


async def output_text(s: AsyncSession, run_id: str) -> str:
    return b"".join(d for _, d in await output_chunks(s, run_id)).decode("utf-8", "replace")


async def mark_started(s: AsyncSession, *, run_id: str, agent_id: str) -> bool:
    result = await s.execute(
        update(ScriptRun)
        .where(ScriptRun.id == run_id, ScriptRun.agent_id == agent_id, ScriptRun.status == QUEUED)
        .values(status=RUNNING)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def append_output(s: AsyncSession, *, run_id: str, data: bytes, max_bytes: int) -> tuple[int, bytes] | None:
    """Keep what fits of `data` under the bound, at the end of the output; (position, kept bytes), or None when
    nothing was kept (the run is already full, or not running). Past the bound the run is marked truncated."""
    run = await s.get(ScriptRun, run_id, with_for_update=True)
    if run is None or run.status not in (QUEUED, RUNNING):
        return None
    room = max_bytes - run.output_size
    kept = data[: max(room, 0)]
    if len(kept) < len(data):
        run.truncated = True
    if not kept:
        return None
    position = run.output_size
    s.add(ScriptRunOutput(run_id=run_id, position=position, data=kept))
    run.output_size = position + len(kept)
    if run.status == QUEUED:
        run.status = RUNNING
    return position, kept


async def finish(
    s: AsyncSession,
    run: ScriptRun,
    *,
    status: str,
    exit_code: int | None = None,
    error: str = "",
    truncated: bool = False,
    at: datetime | None = None,
) -> None:
    """Record the run's end and publish ScriptRunFinished in the same unit of work; a finished run stays so."""
    if run.status not in (QUEUED, RUNNING):
        return
    run.status = status
    run.exit_code = exit_code
    run.error = error[:500]
    run.truncated = run.truncated or truncated
    run.finished_at = at or utcnow()
    await s.flush()
    await publish.script_run_finished(s, run, await output_text(s, run.id))
    metrics.SCRIPT_RUNS.labels(status).inc()


def outcome(*, exit_code: int, timed_out: bool, error: str) -> str:
    if timed_out:
        return TIMED_OUT
    if error or exit_code != 0:
        return FAILED
    return SUCCEEDED


async def fail_unfinished_of_agent(s: AsyncSession, *, agent_id: str, error: str) -> list[str]:
    """Every queued or running run of the agent fails with `error` (the agent's stream ended); their ids."""
    runs = (
        (
            await s.execute(
                select(ScriptRun).where(ScriptRun.agent_id == agent_id, ScriptRun.status.in_((QUEUED, RUNNING)))
            )
        )
        .scalars()
        .all()
    )
    for run in runs:
        await finish(s, run, status=FAILED, error=error)
    return [r.id for r in runs]


async def sweep_stuck(s: AsyncSession, *, now: datetime | None = None) -> list[str]:
    """Runs still unfinished past their timeout and the grace (a dead replica's, a lost agent's) fail."""
    now = now or utcnow()
    candidates = (
        (
            await s.execute(
                select(ScriptRun)
                .where(ScriptRun.status.in_((QUEUED, RUNNING)), ScriptRun.started_at < now - SWEEP_GRACE)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    failed = []
    for run in candidates:
        if run.started_at + timedelta(seconds=run.timeout_seconds) + SWEEP_GRACE < now:
            await finish(s, run, status=FAILED, error="no result from the device in time", at=now)
            failed.append(run.id)
    return failed


async def count_unfinished(s: AsyncSession) -> int:
    return (
        await s.execute(select(func.count()).select_from(ScriptRun).where(ScriptRun.status.in_((QUEUED, RUNNING))))
    ).scalar_one()
