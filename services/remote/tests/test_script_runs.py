"""Script run queries against the migrated schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from remote.script_runs import service
from remote.script_runs.models import RUNNING
from servicekit import permissions as perm
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.pagination import encode_cursor
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

A, A_SUB, B = "cust-a", "cust-a-sub", "cust-b"
T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def portal_user(customer_id: str, *perms: str, contact_id: str = "", customer_ids: tuple[str, ...] = ()) -> Principal:
    return Principal(
        kind=KIND_PORTAL_USER,
        subject_id=f"user-{customer_id}-{contact_id}",
        customer_id=customer_id,
        contact_id=contact_id,
        permissions=frozenset(perms),
        customer_ids=customer_ids,
    )


ALL_A = portal_user(A, perm.ASSETS_VIEW_ALL)
STAFF = Principal(kind=KIND_STAFF, subject_id="tech-1")


async def run_ids(db, principal: Principal, page_size: int = 100) -> list[str]:
    async with db.unit_of_work() as s:
        page = await service.list_script_runs(s, principal=principal, page_size=page_size)
    return [r.id for r in page.script_runs]


async def test_the_customers_runs_newest_first(db, seed, make_run):
    await seed(
        make_run(A, id="old", started_at=T - timedelta(days=1)),
        make_run(A, id="new", started_at=T),
        make_run(A, id="middle", started_at=T - timedelta(hours=1), status=RUNNING, exit_code=None, finished_at=None),
        make_run(B, id="other", started_at=T + timedelta(days=1)),
    )
    assert await run_ids(db, ALL_A) == ["new", "middle", "old"]


async def test_order_is_by_instant_whatever_offset_a_time_was_given_in(db, seed, make_run):
    paris = timezone(timedelta(hours=2))
    # 13:30 in Paris is 11:30 UTC: before 12:00 UTC although its wall-clock reading is later.
    await seed(
        make_run(A, id="noon-utc", started_at=T),
        make_run(A, id="paris", started_at=T.replace(hour=13, minute=30, tzinfo=paris)),
    )
    assert await run_ids(db, ALL_A) == ["noon-utc", "paris"]
    async with db.unit_of_work() as s:
        (first, second) = (await service.list_script_runs(s, principal=ALL_A, page_size=10)).script_runs
    assert first.started_at == T and second.started_at == datetime(2026, 5, 1, 11, 30, tzinfo=UTC)
    assert first.started_at.tzinfo is not None and first.finished_at.tzinfo is not None


async def test_mine_sees_only_the_runs_for_the_users_contact_of_its_customer(db, seed, make_run):
    await seed(
        make_run(A, id="mine", contact_id="ctc-1"),
        make_run(A, id="colleagues", contact_id="ctc-2"),
        make_run(A, id="for-no-contact"),
        # Another customer's run recorded with the same contact id (a mistake or a probe) is still not ours.
        make_run(B, id="other-customers", contact_id="ctc-1"),
    )
    assert await run_ids(db, portal_user(A, perm.ASSETS_VIEW_MINE, contact_id="ctc-1")) == ["mine"]
    # A portal user without a contact has no runs of its own.
    assert await run_ids(db, portal_user(A, perm.ASSETS_VIEW_MINE)) == []
    # All still sees every run of the customer, with or without a contact.
    assert sorted(await run_ids(db, ALL_A)) == ["colleagues", "for-no-contact", "mine"]


async def test_all_covers_subsidiaries_and_staff_see_everyone(db, seed, make_run):
    await seed(make_run(A, id="a"), make_run(A_SUB, id="sub"), make_run(B, id="b"))
    parent = portal_user(A, perm.ASSETS_VIEW_ALL, customer_ids=(A, A_SUB))
    assert await run_ids(db, parent) == ["sub", "a"]
    assert await run_ids(db, STAFF) == ["b", "sub", "a"]


async def test_a_group_without_asset_permissions_is_refused(db):
    with pytest.raises(PermissionDenied):
        await run_ids(db, portal_user(A, perm.INVOICES_VIEW_ALL))


async def test_pages_walk_every_run_once_newest_first_across_equal_times(db, seed, make_run):
    runs = [make_run(A, started_at=T + timedelta(microseconds=i % 4)) for i in range(11)]
    await seed(*runs)
    expected = [r.id for r in sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True)]

    seen, cursor = [], ""
    for _ in range(10):
        async with db.unit_of_work() as s:
            page = await service.list_script_runs(s, principal=ALL_A, page_size=3, cursor=cursor)
        seen += [r.id for r in page.script_runs]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == expected


async def test_a_full_last_page_has_no_next_cursor(db, seed, make_run):
    await seed(make_run(A), make_run(A))
    async with db.unit_of_work() as s:
        page = await service.list_script_runs(s, principal=ALL_A, page_size=2)
    assert len(page.script_runs) == 2 and page.next_cursor == ""


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%not-base64",
        encode_cursor(T.isoformat()),
        encode_cursor("yesterday", "run1001"),
        encode_cursor("2026-05-01T12:00:00", "run1001"),
        encode_cursor(T.isoformat(), 5),
    ],
    ids=["not-base64", "wrong-arity", "not-a-time", "no-offset", "id-not-text"],
)
async def test_a_malformed_cursor_is_invalid_argument(db, cursor):
    async with db.unit_of_work() as s:
        with pytest.raises(InvalidArgument) as err:
            await service.list_script_runs(s, principal=ALL_A, page_size=10, cursor=cursor)
    assert err.value.field == "cursor"
