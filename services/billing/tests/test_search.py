"""BillingService.Search (SPEC H4) over a real gRPC socket, on SQLite (FTS5) and PostgreSQL (full text): each kind
found by number, word or reference; only what the list RPCs would show the caller; bad input refused; search
syntax typed by the user taken as plain words; rows made before the index migration found after it."""

from __future__ import annotations

from datetime import date

import grpc
import pytest
import sqlalchemy as sa

from billing.estimates.models import Estimate, EstimateLine
from billing.main import MIGRATIONS_DIR
from billing.payments.models import FAILED, SUCCEEDED, Payment, PaymentAllocation
from billing.search import service as search
from portal.billing.v1 import billing_pb2
from portal.common.v1 import search_pb2
from portal_testkit.services import Principals
from servicekit import permissions as perm
from servicekit.db import Database
from servicekit.grpc_client import call_options
from servicekit.migrations import upgrade
from servicekit.search import parse_query

A, A_SUB, B = "cust-a", "cust-a-sub", "cust-b"
BILLING_ALL = {perm.INVOICES_VIEW_ALL, perm.ESTIMATES_VIEW_ALL, perm.PAYMENTS_VIEW_ALL}
BILLING_MINE = {perm.INVOICES_VIEW_MINE, perm.ESTIMATES_VIEW_MINE, perm.PAYMENTS_VIEW_MINE}
USER_A = Principals.portal(A, "ctc-a1", permissions=BILLING_ALL, customer_ids=(A, A_SUB))
STAFF = Principals.technician()


def estimate(est_id: str, customer_id: str, number: str, name: str, *lines: str, **fields: object) -> Estimate:
    e = Estimate(
        id=est_id,
        number=number,
        customer_id=customer_id,
        name=name,
        sent_on=date(2026, 2, 1),
        currency="USD",
        total_minor=100,
        **fields,
    )
    e.lines = [
        EstimateLine(position=i, description=d, quantity=1, unit_price_minor=100, amount_minor=100)
        for i, d in enumerate(lines, start=1)
    ]
    return e


def payment(
    pay_id: str, customer_id: str, invoice_id: str, *, method: str, charge_id: str, **fields: object
) -> Payment:
    p = Payment(
        id=pay_id,
        customer_id=customer_id,
        idempotency_key=f"key-{pay_id}",
        request_digest="d",
        status=fields.pop("status", SUCCEEDED),
        currency="USD",
        amount_minor=500,
        processor_token=fields.pop("processor_token", "tok_secret_4111111111111111"),
        method=method,
        charge_id=charge_id,
        **fields,
    )
    p.allocations = [PaymentAllocation(position=1, invoice_id=invoice_id, amount_minor=500)]
    return p


async def find(stub, token, principal, text: str, *, kinds=(), limit: int = 0, customer_id: str = ""):  # noqa: ANN001
    query = search_pb2.SearchQuery(query=text, kinds=list(kinds), limit_per_kind=limit, customer_id=customer_id)
    resp = await stub.Search(billing_pb2.SearchRequest(query=query), **call_options(token(principal)))
    return resp.results


def titles(results, kind: str) -> list[str]:  # noqa: ANN001
    return [h.title for h in results.hits if h.kind == kind]


@pytest.fixture
async def records(seed, make_invoice):  # noqa: ANN001, ANN201
    await seed(
        make_invoice(
            A, id="inv-a1", number="INV-1001", contact_id="ctc-a1", lines=("Printer repair", "Toner cartridge")
        ),
        make_invoice(A, id="inv-a2", number="INV-1002", contact_id="ctc-a2", lines=("Labour on the printer",)),
        make_invoice(A_SUB, id="inv-s1", number="INV-1003", lines=("Laptop printer driver",)),
        make_invoice(B, id="inv-b1", number="INV-2001", lines=("Printer repair", "Toner cartridge")),
        make_invoice(A, id="inv-0a3", number="INV-1004", lines=("Monitor stand",)),
        make_invoice(A, id="inv-draft", number=None, status="draft", lines=("Printer draft work",)),
    )
    await seed(
        estimate("est-a1", A, "EST-7", "Network upgrade", "Switch replacement", contact_id="ctc-a1"),
        estimate("est-b1", B, "EST-8", "Network cabling", "Patch panel"),
        payment("pay-a1", A, "inv-a1", method="visa 4242", charge_id="ch_abc123", contact_id="ctc-a1"),
        payment("pay-a3", A, "inv-0a3", method="mastercard 7777", charge_id="ch_def456", contact_id="ctc-a1"),
        payment("pay-a2", A, "inv-a2", method="visa 1881", charge_id="ch_failed9", status=FAILED),
        payment("pay-b1", B, "inv-b1", method="Check 5531", charge_id="manual-pay-b1"),
    )


async def test_each_kind_is_found_by_number_word_or_reference_and_only_the_callers(stub, token, records, db):
    # An invoice by its number, exactly and by prefix; its payment is found by it too.
    exact = await find(stub, token, USER_A, "INV-1001")
    assert titles(exact, "invoice")[0] == "INV-1001"
    assert titles(exact, "payment") == ["visa 4242"]
    assert titles(await find(stub, token, USER_A, "inv-100", kinds=["invoice"]), "invoice")[:3] == [
        "INV-1003",
        "INV-1002",
        "INV-1001",
    ]
    # A word of a line, as a prefix; the customer's subsidiary is in its scope; another customer's never.
    printer = await find(stub, token, USER_A, "print")
    assert sorted(titles(printer, "invoice")) == ["INV-1001", "INV-1002", "INV-1003"]
    first = next(h for h in printer.hits if h.id == "inv-a1")
    assert first.snippet == "Printer repair" and first.customer_id == A and first.updated_at.seconds > 0
    # An estimate by a word of its name or of a line; a payment by its reference or the last four shown in lists.
    assert titles(await find(stub, token, USER_A, "netw"), "estimate") == ["EST-7 Network upgrade"]
    assert titles(await find(stub, token, USER_A, "switch"), "estimate") == ["EST-7 Network upgrade"]
    assert titles(await find(stub, token, USER_A, "ch_abc123"), "payment") == ["visa 4242"]
    assert titles(await find(stub, token, USER_A, "4242"), "payment") == ["visa 4242"]
    # Never another customer's record, of any kind, whatever is typed; never a failed payment; never a draft.
    for text in ("INV-2001", "cabling", "EST-8", "manual-pay-b1", "5531", "ch_failed9", "draft"):
        assert list((await find(stub, token, USER_A, text)).hits) == [], text
    # Card data beyond what lists show is never indexed: the processor token finds nothing, for staff either.
    assert list((await find(stub, token, STAFF, "tok_secret_4111111111111111")).hits) == []
    assert list((await find(stub, token, STAFF, "4111111111111111")).hits) == []

    # Staff: every customer, narrowed by customer_id; drafts too (a draft's title is its first line).
    staff_printer = await find(stub, token, STAFF, "printer", kinds=["invoice"], limit=20)
    assert sorted(titles(staff_printer, "invoice")) == [
        "INV-1001",
        "INV-1002",
        "INV-1003",
        "INV-2001",
        "Printer draft work",
    ]
    only_b = await find(stub, token, STAFF, "printer", customer_id=B)
    assert {h.customer_id for h in only_b.hits} == {B} and titles(only_b, "invoice") == ["INV-2001"]
    assert titles(await find(stub, token, STAFF, "5531"), "payment") == ["Check 5531"]

    # The index follows changes: a renamed estimate is found by its new name only; a deleted invoice is gone.
    async with db.unit_of_work() as s:
        await s.execute(sa.update(Estimate).where(Estimate.id == "est-a1").values(name="Firewall rollout"))
        await s.execute(sa.delete(Payment.__table__).where(Payment.id == "pay-b1"))
        await s.execute(sa.text("DELETE FROM payment_allocations WHERE invoice_id = 'inv-b1'"))
        await s.execute(sa.text("DELETE FROM invoices WHERE id = 'inv-b1'"))
    assert titles(await find(stub, token, USER_A, "firewall"), "estimate") == ["EST-7 Firewall rollout"]
    assert titles(await find(stub, token, USER_A, "network"), "estimate") == []
    assert titles(await find(stub, token, STAFF, "INV-2001"), "invoice") == []


async def test_view_mine_limits_and_groups_without_billing(stub, token, records):
    mine = Principals.portal(A, "ctc-a1", permissions=BILLING_MINE)
    printer = await find(stub, token, mine, "printer")
    assert titles(printer, "invoice") == ["INV-1001"]
    assert titles(await find(stub, token, mine, "visa"), "payment") == ["visa 4242"]
    assert titles(await find(stub, token, mine, "network"), "estimate") == ["EST-7 Network upgrade"]
    # Its own payment of an invoice made out to the whole customer: the payment is found by that invoice's number,
    # the invoice itself is not one of View Mine's.
    customer_wide = await find(stub, token, mine, "INV-1004")
    assert titles(customer_wide, "payment") == ["mastercard 7777"] and titles(customer_wide, "invoice") == []
    colleague = Principals.portal(A, "ctc-a2", permissions=BILLING_MINE)
    assert titles(await find(stub, token, colleague, "INV-1001"), "invoice") == []
    assert titles(await find(stub, token, colleague, "network"), "estimate") == []

    # A group that sees no billing gets no hits, not an error; estimates alone, only estimates.
    tickets_only = Principals.portal(A, "ctc-a1", permissions={perm.TICKETS_VIEW_ALL})
    assert list((await find(stub, token, tickets_only, "printer")).hits) == []
    estimates_only = Principals.portal(A, permissions={perm.ESTIMATES_VIEW_ALL})
    assert {h.kind for h in (await find(stub, token, estimates_only, "e")).hits} == {"estimate"}

    # At most limit_per_kind hits per kind; the kind with more is named.
    limited = await find(stub, token, USER_A, "printer", kinds=["invoice", "payment"], limit=2)
    assert len(titles(limited, "invoice")) == 2 and list(limited.truncated_kinds) == ["invoice"]


BAD_INPUT = [
    ("query", search_pb2.SearchQuery(query="   ")),
    ("query", search_pb2.SearchQuery(query="x" * 201)),
    ("query", search_pb2.SearchQuery(query="inv\x00")),
    ("kinds", search_pb2.SearchQuery(query="inv", kinds=["ticket"])),
    ("limit_per_kind", search_pb2.SearchQuery(query="inv", limit_per_kind=21)),
    ("limit_per_kind", search_pb2.SearchQuery(query="inv", limit_per_kind=-1)),
]


async def test_bad_input_is_invalid_argument_naming_the_field(stub, token):
    for field, query in BAD_INPUT:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Search(billing_pb2.SearchRequest(query=query), **call_options(token(USER_A)))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert err.value.details().startswith(f"{field}: "), err.value.details()


async def test_search_syntax_and_sql_metacharacters_are_plain_text(stub, token, records):
    for text in (
        "'",
        '"',
        "*",
        "OR",
        "NEAR(",
        "--",
        "\\",
        "%",
        "_",
        "printer OR",
        '"printer',
        "NEAR(printer toner)",
        "printer*",
        "INV-1001' --",
        "print%",
        "col:printer",
        "^printer",
        "printer -toner",
        "x' OR '1'='1",
    ):
        results = await find(stub, token, USER_A, text)
        assert {h.customer_id for h in results.hits} <= {A, A_SUB}, text
    # Operators are words like any other: all must match, so "OR" narrows instead of widening.
    assert list((await find(stub, token, USER_A, "printer OR")).hits) == []
    assert list((await find(stub, token, USER_A, "%")).hits) == []
    # What stays after the punctuation is matched as words.
    assert "INV-1001" in titles(await find(stub, token, USER_A, '("printer" repair*)'), "invoice")


async def test_rows_made_before_the_index_are_found_after_the_migration(db_url):
    await upgrade(MIGRATIONS_DIR, db_url, "0009")
    db = Database(db_url)
    try:
        async with db.unit_of_work() as s:
            await s.execute(
                sa.text(
                    "INSERT INTO invoices (id, number, customer_id, issued_on, due_on, status, currency,"
                    " subtotal_minor, tax_minor, tax_rate_bp, total_minor, balance_minor, created_at)"
                    " VALUES ('old-1', 'INV-0042', 'cust-a', '2025-01-01', '2025-01-31', 'open', 'USD', 0, 0, 0,"
                    " 100, 100, '2025-01-01 00:00:00')"
                )
            )
            await s.execute(
                sa.text(
                    "INSERT INTO invoice_lines (invoice_id, position, description, quantity, unit_price_minor,"
                    " amount_minor) VALUES ('old-1', 1, 'Legacy scanner service', 1, 100, 100)"
                )
            )
        await upgrade(MIGRATIONS_DIR, db_url)
        async with db.read() as conn:
            for text in ("INV-0042", "scanner"):
                query = parse_query(search_pb2.SearchQuery(query=text), kinds=search.KINDS, staff=False)
                found = await search.search(conn, principal=USER_A, query=query)
                assert [h.title for h in found.hits] == ["INV-0042"], text
    finally:
        await db.dispose()
