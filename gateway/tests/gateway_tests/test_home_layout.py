"""The home's order (SPEC H3) as the gateway applies it: staff's order and switches, then the group's permissions;
keys identity does not list yet appear at the end, keys the gateway does not know are skipped; up/down moves; the
lock of a paid invoice whose ticket is still open."""

from __future__ import annotations

from types import SimpleNamespace

from gateway.areas.home import KEYS, Section, _locked, move, ordered_keys
from gateway.clients.portal_controls import HomeLayout
from gateway.edge.sessions import Session
from portal.billing.v1 import billing_pb2
from servicekit import permissions as perm
from servicekit.principal import KIND_PORTAL_USER, Principal


def session(*permissions: str) -> Session:
    p = Principal(kind=KIND_PORTAL_USER, subject_id="u", customer_id="c", permissions=frozenset(permissions))
    return Session(token_hash="h", principal=p, principal_token="t", customer_name="Acme", csrf_token="x")


EVERYTHING = session(*perm.CATALOGUE)


def test_no_layout_yet_shows_every_allowed_key_in_the_default_order() -> None:
    assert ordered_keys(None, EVERYTHING) == KEYS
    assert ordered_keys(HomeLayout(), EVERYTHING) == KEYS


def test_staff_order_and_switches_then_the_group() -> None:
    layout = HomeLayout((("assets", True), ("charts", False), ("weather", True), ("open_tickets", True)), "mine")
    got = ordered_keys(layout, EVERYTHING)
    assert got[:2] == ("assets", "open_tickets"), "staff's order first; an unknown key is skipped"
    assert "charts" not in got and "weather" not in got
    assert got[2:] == tuple(k for k in KEYS if k not in {"assets", "charts", "open_tickets"}), "the rest appended"
    # A group with tickets only: the billing, assets, credentials and FAQ keys never show, whatever staff enabled.
    tickets_only = ordered_keys(layout, session(perm.TICKETS_VIEW_MINE))
    assert tickets_only[0] == "open_tickets"
    assert set(tickets_only) == {"open_tickets", "recent_tickets", "shortcuts", "announcements", "renewal_notice"}


def test_up_and_down_swap_with_the_neighbour_and_stop_at_the_ends() -> None:
    items = (("a", True), ("b", False), ("c", True))
    assert move(items, "b", "up") == (("b", False), ("a", True), ("c", True))
    assert move(items, "b", "down") == (("a", True), ("c", True), ("b", False))
    assert move(items, "a", "up") == items and move(items, "c", "down") == items
    assert move(items, "zzz", "up") == items and move(items, "b", "sideways") == items


def test_the_lock_marks_paid_invoices_whose_ticket_is_still_open() -> None:
    paid_open = billing_pb2.Invoice(id="i1", number="INV-1", status="paid", ticket_id="t-open")
    paid_closed = billing_pb2.Invoice(id="i2", number="INV-2", status="paid", ticket_id="t-closed")
    unpaid = billing_pb2.Invoice(id="i3", number="INV-3", status="open", ticket_id="t-open")
    no_ticket = billing_pb2.Invoice(id="i4", number="INV-4", status="paid")
    listed = Section(True, [billing_pb2.ListInvoicesResponse(invoices=[paid_open, paid_closed, unpaid, no_ticket])])
    open_tickets = Section(True, [SimpleNamespace(id="t-open")])
    assert [i.number for i in _locked(listed, open_tickets)] == ["INV-1"]
    # Tickets down, or billing's list missing: no lock rather than a wrong one.
    assert _locked(listed, Section(False, [])) == [] and _locked(Section(True, [None]), open_tickets) == []
