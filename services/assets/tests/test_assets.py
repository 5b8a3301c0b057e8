"""Asset queries against the migrated schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from assets.assets import service
from servicekit import permissions as perm
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.pagination import encode_cursor
from servicekit.principal import KIND_PORTAL_USER, KIND_STAFF, Principal

A, A_SUB, B = "cust-a", "cust-a-sub", "cust-b"


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


async def names(db, principal: Principal, page_size: int = 100) -> list[str]:
    async with db.unit_of_work() as s:
        page = await service.list_assets(s, principal=principal, page_size=page_size)
    return [a.name for a in page.assets]


async def test_the_customers_assets_by_name(db, seed, make_asset):
    await seed(
        make_asset(A, name="server"),
        make_asset(A, name="laptop"),
        make_asset(A, name="printer"),
        make_asset(B, name="desktop"),
    )
    assert await names(db, ALL_A) == ["laptop", "printer", "server"]


async def test_mine_sees_only_the_contacts_assets(db, seed, make_asset):
    await seed(
        make_asset(A, name="mine", contact_id="ctc-1"),
        make_asset(A, name="colleague", contact_id="ctc-2"),
        make_asset(A, name="office"),
        make_asset(B, name="other customer", contact_id="ctc-1"),
    )
    assert await names(db, portal_user(A, perm.ASSETS_VIEW_MINE, contact_id="ctc-1")) == ["mine"]
    # A customer-level user has no contact: "Mine" is then nothing, not the customer's unassigned assets.
    assert await names(db, portal_user(A, perm.ASSETS_VIEW_MINE)) == []


async def test_all_covers_subsidiaries_and_staff_see_everyone(db, seed, make_asset):
    await seed(make_asset(A, name="alpha"), make_asset(A_SUB, name="bravo"), make_asset(B, name="charlie"))
    parent = portal_user(A, perm.ASSETS_VIEW_ALL, customer_ids=(A, A_SUB))
    assert await names(db, parent) == ["alpha", "bravo"]
    assert await names(db, STAFF) == ["alpha", "bravo", "charlie"]


async def test_a_group_without_asset_permissions_is_refused(db):
    with pytest.raises(PermissionDenied):
        await names(db, portal_user(A, perm.INVOICES_VIEW_ALL))


async def test_pages_walk_every_asset_once_in_order_across_equal_names(db, seed, make_asset):
    assets = [make_asset(A, name=("alpha", "bravo", "charlie")[i % 3]) for i in range(11)]
    await seed(*assets)
    expected = [a.id for a in sorted(assets, key=lambda a: (a.name, a.id))]

    seen, cursor = [], ""
    for _ in range(10):
        async with db.unit_of_work() as s:
            page = await service.list_assets(s, principal=ALL_A, page_size=3, cursor=cursor)
        seen += [a.id for a in page.assets]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == expected


async def test_a_full_last_page_has_no_next_cursor(db, seed, make_asset):
    await seed(make_asset(A), make_asset(A))
    async with db.unit_of_work() as s:
        page = await service.list_assets(s, principal=ALL_A, page_size=2)
    assert len(page.assets) == 2 and page.next_cursor == ""


@pytest.mark.parametrize(
    "cursor",
    ["%%%not-base64", encode_cursor("laptop"), encode_cursor(3, "ast1001"), encode_cursor("laptop", None)],
    ids=["not-base64", "wrong-arity", "name-not-text", "id-not-text"],
)
async def test_a_malformed_cursor_is_invalid_argument(db, cursor):
    async with db.unit_of_work() as s:
        with pytest.raises(InvalidArgument) as err:
            await service.list_assets(s, principal=ALL_A, page_size=10, cursor=cursor)
    assert err.value.field == "cursor"
