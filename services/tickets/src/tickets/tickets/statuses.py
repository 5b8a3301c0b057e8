"""The ticket statuses an operator works with (issue 12, SPEC T4): a list admins may extend, relabel and
reorder. A status's `name` is what a ticket stores and what filters and the API use; its labels are what people
read, in English and French. The six built-in statuses keep their names; their labels may be left empty, and
then each audience reads the product's own wording ("Waiting on you" in the portal, "Waiting on customer" in the
console). `closed` decides whether a status ends a ticket's open life. Functions never commit."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import FailedPrecondition, InvalidArgument
from servicekit.principal import Principal, require_admin
from tickets.tickets.models import Ticket, TicketSettings

ROW = 1
NAME_MAX = 40
LABEL_MAX = 60
MOST = 20
NEW = "New"
CLOSED = "Closed"


@dataclass(frozen=True)
class Status:
    name: str
    label_en: str = ""
    label_fr: str = ""
    closed: bool = False


BUILT_IN: tuple[Status, ...] = (
    Status(NEW),
    Status("In Progress"),
    Status("Waiting on Customer"),
    Status("Scheduled"),
    Status("Resolved", closed=True),
    Status(CLOSED, closed=True),
)
BUILT_IN_NAMES = frozenset(s.name for s in BUILT_IN)


def _of(row: TicketSettings | None) -> tuple[Status, ...]:
    if row is None or not row.statuses_json:
        return BUILT_IN
    return tuple(Status(**item) for item in json.loads(row.statuses_json))


async def current(s: AsyncSession) -> tuple[Status, ...]:
    """The statuses in force, in their display order."""
    return _of(await s.get(TicketSettings, ROW))


def canonical(statuses: tuple[Status, ...], values: list[str] | tuple[str, ...], *, field: str) -> list[str]:
    """The statuses' stored names for what a caller typed (case does not matter), or a clear refusal."""
    by_lower = {st.name.lower(): st.name for st in statuses}
    out = []
    for v in values:
        name = by_lower.get(v.strip().lower())
        if name is None:
            names = ", ".join(st.name for st in statuses)
            raise InvalidArgument(f"unknown status {v[:50]!r}; use one of {names}", field=field)
        out.append(name)
    return out


def is_closed(statuses: tuple[Status, ...], name: str) -> bool:
    return any(st.name == name and st.closed for st in statuses)


def _text(value: str, *, field: str, limit: int) -> str:
    value = " ".join(value.split())
    if len(value) > limit:
        raise InvalidArgument(f"{field} must be at most {limit} characters", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidArgument(f"{field} must not contain control characters", field=field)
    return value


def checked(proposed: list[Status]) -> tuple[Status, ...]:
    """The list as it would be saved, or InvalidArgument naming what is wrong with it."""
    if len(proposed) > MOST:
        raise InvalidArgument(f"at most {MOST} statuses", field="statuses")
    out: list[Status] = []
    seen: set[str] = set()
    for i, st in enumerate(proposed):
        name = _text(st.name, field=f"statuses[{i}].name", limit=NAME_MAX)
        if not name:
            raise InvalidArgument(f"status {i + 1} has no name", field=f"statuses[{i}].name")
        if name.lower() in seen:
            raise InvalidArgument(f"the status {name!r} is listed twice", field=f"statuses[{i}].name")
        seen.add(name.lower())
        # A built-in status is matched whatever the case it was typed in, and keeps its own spelling.
        name = next((b.name for b in BUILT_IN if b.name.lower() == name.lower()), name)
        en = _text(st.label_en, field=f"statuses[{i}].label_en", limit=LABEL_MAX)
        fr = _text(st.label_fr, field=f"statuses[{i}].label_fr", limit=LABEL_MAX)
        if name not in BUILT_IN_NAMES and not (en and fr):
            raise InvalidArgument(
                f"the new status {name!r} needs a label in English and in French", field=f"statuses[{i}].label_en"
            )
        out.append(Status(name, en, fr, bool(st.closed)))
    by_name = {st.name: st for st in out}
    if NEW not in by_name or by_name[NEW].closed:
        raise InvalidArgument("the list must keep “New”, as an open status: new tickets start there", field="statuses")
    if CLOSED not in by_name or not by_name[CLOSED].closed:
        raise InvalidArgument(
            "the list must keep “Closed”, as a closed status: closing a ticket puts it there", field="statuses"
        )
    return tuple(out)


async def replace(
    s: AsyncSession, *, principal: Principal, proposed: list[Status], fallback_assignee: str
) -> tuple[Status, ...]:
    """An admin's new list. A status that tickets still have cannot be removed, nor change between open and
    closed (those tickets would silently leave or join the open lists): they must be moved first.
    `fallback_assignee` is the process's default assignee, kept when this creates the settings row."""
    require_admin(principal, "change the ticket statuses")
    new = checked(proposed)
    row = await s.get(TicketSettings, ROW, with_for_update=True)
    old = {st.name: st for st in _of(row)}
    new_by_name = {st.name: st for st in new}
    touched = [n for n, st in old.items() if n not in new_by_name or new_by_name[n].closed != st.closed]
    if touched:
        in_use = (
            await s.execute(
                sa.select(Ticket.status, sa.func.count()).where(Ticket.status.in_(touched)).group_by(Ticket.status)
            )
        ).all()
        if in_use:
            status, count = in_use[0]
            what = "removed" if status not in new_by_name else "switched between open and closed"
            raise FailedPrecondition(
                f"{count} ticket{'s are' if count != 1 else ' is'} in “{status}”, so it cannot be {what}; "
                "move them to another status first"
            )
    if row is None:
        row = TicketSettings(id=ROW, default_assignee_id=fallback_assignee)
        s.add(row)
    row.statuses_json = json.dumps([asdict(st) for st in new], ensure_ascii=False)
    row.updated_by = principal.subject_id[:64]
    row.updated_at = datetime.now(UTC)
    await s.flush()
    return new
