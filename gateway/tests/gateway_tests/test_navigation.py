"""The portal's main navigation (areas/navigation.py): the areas a group may open, and only those."""

from __future__ import annotations

from gateway.areas.navigation import AREAS, may_open, portal_nav
from servicekit import permissions as perm
from servicekit.permissions import BUILT_IN_GROUPS, CATALOGUE, NON_PORTAL_USER_GROUP
from servicekit.principal import KIND_PORTAL_USER, KIND_SECURE_LINK, KIND_STAFF, Principal


def _user(permissions: set[str] | frozenset[str], kind: str = KIND_PORTAL_USER) -> Principal:
    return Principal(kind=kind, subject_id="u1", customer_id="c1", contact_id="k1", permissions=frozenset(permissions))


def _keys(principal: Principal | None, path: str = "/") -> list[str]:
    return [item.key for item in portal_nav(principal, path)]


def test_the_non_portal_group_sees_home_and_tickets_only() -> None:
    assert _keys(_user(BUILT_IN_GROUPS[NON_PORTAL_USER_GROUP])) == ["home", "tickets"]


def test_every_permission_opens_every_area_in_order() -> None:
    assert _keys(_user(CATALOGUE.keys())) == [a.key for a in AREAS]


def test_each_area_needs_its_own_permission() -> None:
    assert _keys(_user({perm.ESTIMATES_VIEW_MINE})) == ["home", "billing", "estimates"]
    assert _keys(_user({perm.INVOICES_PAY_ONLINE})) == ["home"]  # paying without seeing invoices opens nothing
    assert _keys(_user({perm.ASSETS_VIEW_MINE})) == ["home", "assets", "remote_requests"]
    assert _keys(_user({perm.DOCUMENTS_UPLOAD})) == ["home", "documents"]
    assert _keys(_user({perm.CREDENTIALS_VIEW_MINE, perm.KNOWLEDGE_BASE_VIEW})) == ["home", "credentials", "kb"]
    assert not may_open(_user({perm.TICKETS_CREATE}), "tickets")


def test_the_current_area_is_the_longest_matching_link() -> None:
    items = portal_nav(_user(CATALOGUE.keys()), "/billing/invoices/inv-1")
    assert [i.key for i in items if i.current] == ["invoices"]
    assert [i.key for i in portal_nav(_user(CATALOGUE.keys()), "/billing") if i.current] == ["billing"]
    assert [i.key for i in portal_nav(_user(CATALOGUE.keys()), "/") if i.current] == ["home"]
    assert [i.key for i in portal_nav(_user(CATALOGUE.keys()), "/tickets-of-someone") if i.current] == []


def test_staff_and_nobody_get_no_portal_navigation() -> None:
    assert _keys(None) == []
    assert _keys(_user(set(), kind=KIND_STAFF)) == []


def test_a_secure_link_gets_what_its_permissions_open() -> None:
    link = _user({perm.TICKETS_VIEW_ALL}, kind=KIND_SECURE_LINK)
    assert _keys(link) == ["home", "tickets"]
