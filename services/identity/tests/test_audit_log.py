"""The audit log as admins read it (issue 12), on SQLite and PostgreSQL: newest first in keyset pages, filtered by
kind, by a piece of the subject (wildcards literal) and by time; a technician and a portal user refused; an unknown
kind refused by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.audit import models
from identity.audit import service as audit
from servicekit.db import Database
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

STAFF = Principal(kind=KIND_STAFF, subject_id="staff-1", staff_role="admin")
TECHNICIAN = Principal(kind=KIND_STAFF, subject_id="staff-2", staff_role="technician")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_staff_read_the_log_newest_first_filtered_and_paged(db: Database) -> None:
    async with db.unit_of_work() as s:
        for i in range(7):
            await audit.record(
                s,
                kind=models.SIGN_IN_FAILED,
                subject=f"portal:user_{i}@acme.test",
                address="10.0.0.9",
                at=T0 + timedelta(minutes=i),
            )
        await audit.record(s, kind=models.SIGN_IN, subject="portal:user_1@acme.test", at=T0 + timedelta(hours=1))
        await audit.record(
            s,
            kind=models.GROUP_CREATED,
            subject="staff:staff-1",
            at=T0 + timedelta(hours=2),
            detail={"name": "Front desk"},
        )

    async def read(**kw) -> list[tuple[str, str]]:  # noqa: ANN003
        out, cursor = [], ""
        while True:
            async with db.unit_of_work() as s:
                page = await audit.list_entries(s, principal=STAFF, size=3, cursor=cursor, **kw)
            out += [(e.kind, e.subject) for e in page.entries]
            if not page.next_cursor:
                return out
            cursor = page.next_cursor

    everything = await read()
    assert len(everything) == 9 and everything[0] == ("group_created", "staff:staff-1")
    assert [s for _, s in await read(kind="sign_in_failed")] == [f"portal:user_{i}@acme.test" for i in range(6, -1, -1)]
    assert await read(subject="USER_1@") == [
        ("sign_in", "portal:user_1@acme.test"),
        ("sign_in_failed", "portal:user_1@acme.test"),
    ]
    assert await read(subject="user%") == [] and await read(subject="r_1") == await read(subject="user_1")
    window = await read(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
    assert [s for _, s in window] == ["portal:user_3@acme.test", "portal:user_2@acme.test"]
    with pytest.raises(InvalidArgument, match="unknown kind"):
        await read(kind="coffee_break")
    for refused in (TECHNICIAN, Principal(kind=KIND_PORTAL_USER, subject_id="u", customer_id="c")):
        async with db.unit_of_work() as s:
            with pytest.raises(PermissionDenied):
                await audit.list_entries(s, principal=refused)
    assert "sign_in_failed" in audit.KINDS and "group_created" in audit.KINDS
