"""Tickets rules the pages and the API share: the text limits (the tickets service's own values, pinned by a
contract test), priorities, and the list filters with the permission rule that gates them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from gateway.areas import ticket_statuses
from gateway.clients.identity import IdentityClient
from servicekit import permissions as perm
from servicekit.principal import Principal

# The tickets service's limits (tickets.tickets.service, tickets.comments.service); a longer text is refused there.
SUBJECT_MAX = 200
DESCRIPTION_MAX = 20_000
COMMENT_MAX = 20_000
QUERY_MAX = 200
# A site or asset id in a filter (the tickets service refuses a longer one).
REF_MAX = 64
PRIORITIES = ("low", "normal", "high", "urgent")
DEFAULT_PRIORITY = "normal"
SORTS = ("newest", "oldest", "updated")
# The issue types the new-ticket form offers (T3); the service takes any short text (the API and staff may name
# others), so these are suggestions with translated labels, stored in English.
ISSUE_TYPES = ("General", "Hardware", "Software", "Network", "Email", "Printer", "Access", "Other")
DEFAULT_ISSUE_TYPE = "General"


def status_key(value: str) -> str:
    return value.lower().replace(" ", "_")


class Filters(NamedTuple):
    query: str
    status_in: tuple[str, ...]
    status_not_in: tuple[str, ...]
    sort: str
    scope: str  # "all" or "mine"
    site_id: str = ""
    asset_id: str = ""
    # SPEC H3: the scope a list opens with when the address names none (staff's default, "all" or "mine").
    default_scope: str = "all"

    def params(self) -> list[tuple[str, str]]:
        """The filters as a page's query string."""
        out: list[tuple[str, str]] = []
        if self.query:
            out.append(("q", self.query))
        out += [("status", s) for s in self.status_in] + [("not_status", s) for s in self.status_not_in]
        if self.sort != "newest":
            out.append(("sort", self.sort))
        if self.scope != self.default_scope:
            out.append(("scope", self.scope))
        if self.site_id:
            out.append(("site_id", self.site_id))
        if self.asset_id:
            out.append(("asset_id", self.asset_id))
        return out

    def list_arguments(self) -> dict[str, Any]:
        """What TicketsClient.list_tickets takes for these filters."""
        return {
            "query": self.query,
            "status_in": self.status_in,
            "status_not_in": self.status_not_in,
            "sort": self.sort,
            "mine_only": self.scope == "mine",
            "site_id": self.site_id,
            "asset_id": self.asset_id,
        }


def allowed(principal: Principal, f: Filters) -> Filters:
    """The filters the user's group offers: status filters need Tickets - Show Status Filters, and Mine/All is a
    choice only for Tickets - View All (View Mine sees its own tickets anyway)."""
    show_status = principal.has(perm.TICKETS_STATUS_FILTERS)
    return f._replace(
        status_in=f.status_in if show_status else (),
        status_not_in=f.status_not_in if show_status else (),
        scope="mine" if f.scope == "mine" and principal.has(perm.TICKETS_VIEW_ALL) else "all",
    )


def lenient(
    principal: Principal,
    *,
    query: str,
    status_in: Iterable[str],
    status_not_in: Iterable[str],
    sort: str,
    scope: str,
    site_id: str = "",
    asset_id: str = "",
) -> Filters:
    """Filters from words a person typed or clicked (the pages): unknown statuses and sorts are dropped rather than
    refused, and the query's whitespace is tidied. The API passes its values through and lets the service refuse."""
    catalogue = ticket_statuses.current()

    def known(values: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n in map(catalogue.known, values) if n))

    return allowed(
        principal,
        Filters(
            query=" ".join(query.split())[:QUERY_MAX],
            status_in=known(status_in),
            status_not_in=known(status_not_in),
            sort=sort if sort in SORTS else "newest",
            scope=scope,
            site_id=site_id.strip()[:REF_MAX],
            asset_id=asset_id.strip()[:REF_MAX],
        ),
    )


class UnknownAssignee(Exception):
    """The assignee chosen is not an active staff member."""


async def assignee_id(identity: IdentityClient, token: str, principal: Principal, choice: str) -> str:
    """Whom a staff member assigns a ticket to — "me", a staff id, or "" to unassign — checked against the staff
    directory (pages and API alike), so a ticket never goes to an id nobody can see or act on."""
    who = principal.subject_id if choice == "me" else choice
    if who and who != principal.subject_id and who not in await identity.staff_directory(token):
        raise UnknownAssignee(who)
    return who


class UnknownContact(Exception):
    """The contact chosen for a new ticket is not one of the user's customer's contacts."""


async def contact_choices(identity: IdentityClient, token: str, principal: Principal) -> list[tuple[str, str]]:
    """(id, name) of the contacts a user may open a ticket for (T3): its customer's, for a View All user (identity
    decides, and answers only names); none for anyone else, who opens tickets as itself."""
    if (
        principal.is_staff
        or not principal.has(perm.TICKETS_VIEW_ALL)
        or principal.link_ticket_id
        or principal.link_site_id
    ):
        return []
    return [(c.id, c.name) for c in await identity.list_contacts(token, principal.customer_id)]


async def chosen_contact(
    identity: IdentityClient, token: str, principal: Principal, contact_id: str
) -> tuple[str, str]:
    """(contact_id, its name) for a new ticket, checked against contact_choices; ('', '') for "as myself"."""
    if not contact_id or contact_id == principal.contact_id:
        return "", ""
    for cid, name in await contact_choices(identity, token, principal):
        if cid == contact_id:
            return cid, name
    raise UnknownContact(contact_id)
