"""Invoice queries against the migrated schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from billing.invoices import service
from billing.invoices.models import PAID, VOID
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


ALL_A = portal_user(A, perm.INVOICES_VIEW_ALL)
STAFF = Principal(kind=KIND_STAFF, subject_id="admin-1", staff_role="admin")


async def numbers(db, principal: Principal, page_size: int = 100) -> list[str]:
    async with db.unit_of_work() as s:
        page = await service.list_open_invoices(s, principal=principal, page_size=page_size)
    return [item.invoice.number for item in page.invoices]


async def test_open_unpaid_invoices_of_the_customer_oldest_first(db, seed, make_invoice):
    await seed(
        make_invoice(A, number="A-new", issued_on=date(2026, 3, 1)),
        make_invoice(A, number="A-old", issued_on=date(2025, 12, 1)),
        make_invoice(A, number="A-paid", status=PAID, balance_minor=0),
        make_invoice(A, number="A-void", status=VOID),
        make_invoice(A, number="A-settled", balance_minor=0),
        make_invoice(B, number="B-open"),
    )
    assert await numbers(db, ALL_A) == ["A-old", "A-new"]


async def test_mine_sees_only_the_contacts_invoices(db, seed, make_invoice):
    await seed(
        make_invoice(A, number="A-mine", contact_id="ctc-1"),
        make_invoice(A, number="A-colleague", contact_id="ctc-2"),
        make_invoice(A, number="A-company"),
        make_invoice(B, number="B-same-contact-id", contact_id="ctc-1"),
    )
    assert await numbers(db, portal_user(A, perm.INVOICES_VIEW_MINE, contact_id="ctc-1")) == ["A-mine"]
    # A customer-level user has no contact: "Mine" is then nothing, not the customer's unlinked invoices.
    assert await numbers(db, portal_user(A, perm.INVOICES_VIEW_MINE)) == []


async def test_all_covers_subsidiaries_and_staff_see_everyone(db, seed, make_invoice):
    await seed(
        make_invoice(A, number="A-1", issued_on=date(2026, 1, 1)),
        make_invoice(A_SUB, number="SUB-1", issued_on=date(2026, 1, 2)),
        make_invoice(B, number="B-1", issued_on=date(2026, 1, 3)),
    )
    parent = portal_user(A, perm.INVOICES_VIEW_ALL, customer_ids=(A, A_SUB))
    assert await numbers(db, parent) == ["A-1", "SUB-1"]
    assert await numbers(db, STAFF) == ["A-1", "SUB-1", "B-1"]


async def test_a_group_without_invoice_permissions_is_refused(db):
    with pytest.raises(PermissionDenied):
        await numbers(db, portal_user(A, perm.TICKETS_VIEW_ALL))


async def test_pages_walk_every_invoice_once_in_order_across_equal_dates(db, seed, make_invoice):
    invoices = [make_invoice(A, issued_on=date(2026, 1, 1 + i % 4)) for i in range(11)]
    await seed(*invoices)
    expected = [inv.id for inv in sorted(invoices, key=lambda inv: (inv.issued_on, inv.id))]

    seen, cursor = [], ""
    for _ in range(10):
        async with db.unit_of_work() as s:
            page = await service.list_open_invoices(s, principal=ALL_A, page_size=3, cursor=cursor)
        seen += [item.invoice.id for item in page.invoices]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == expected


async def test_a_full_last_page_has_no_next_cursor(db, seed, make_invoice):
    await seed(*(make_invoice(A) for _ in range(2)))
    async with db.unit_of_work() as s:
        page = await service.list_open_invoices(s, principal=ALL_A, page_size=2)
    assert len(page.invoices) == 2 and page.next_cursor == ""


@pytest.mark.parametrize(
    "cursor",
    ["%%%not-base64", encode_cursor("2026-01-01"), encode_cursor("not-a-date", "x"), encode_cursor("2026-01-01", 7)],
    ids=["not-base64", "wrong-arity", "not-a-date", "id-not-text"],
)
async def test_a_malformed_cursor_is_invalid_argument(db, cursor):
    async with db.unit_of_work() as s:
        with pytest.raises(InvalidArgument) as err:
            await service.list_open_invoices(s, principal=ALL_A, page_size=10, cursor=cursor)
    assert err.value.field == "cursor"


async def test_items_summary_names_the_first_three_lines_in_position_order(db, seed, make_invoice):
    await seed(
        make_invoice(A, number="five", issued_on=date(2026, 1, 1), lines=("Labour", "Router", "Cable", "Fee", "Tax")),
        make_invoice(A, number="one", issued_on=date(2026, 1, 2), lines=("Backup plan",)),
        make_invoice(A, number="none", issued_on=date(2026, 1, 3), lines=()),
    )
    async with db.unit_of_work() as s:
        page = await service.list_open_invoices(s, principal=ALL_A, page_size=10)
    assert {i.invoice.number: i.items_summary for i in page.invoices} == {
        "five": "Labour, Router, Cable +2 more",
        "one": "Backup plan",
        "none": "",
    }


def test_items_summary_text():
    assert service.items_summary(["A", "B", "C"], 3) == "A, B, C"
    assert service.items_summary(["A", "B", "C"], 4) == "A, B, C +1 more"
    assert service.items_summary([], 0) == ""
