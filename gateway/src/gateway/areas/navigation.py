"""Which of the portal's areas a principal may open: the one rule behind the portal's main navigation (base.html),
and the answer a page gives before it asks a service. A link the group cannot use is never offered (the Non-Portal
User Group, with Tickets - View Mine only, sees Home and Tickets); the services still decide what each call returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.areas import assets as asset_rules
from gateway.areas import credentials as credential_rules
from servicekit import permissions as perm
from servicekit.principal import Principal


def _any(*permissions: str) -> Callable[[Principal], bool]:
    return lambda p: any(p.has(x) for x in permissions)


@dataclass(frozen=True, slots=True)
class Area:
    key: str
    href: str
    # The link's text: a key of the page translations (web/translations/navigation.*.json).
    label: str
    allowed: Callable[[Principal], bool]


_BILLING = (
    perm.ACCOUNT_OVERVIEW_VIEW,
    perm.INVOICES_VIEW_ALL,
    perm.INVOICES_VIEW_MINE,
    perm.PAYMENTS_VIEW_ALL,
    perm.PAYMENTS_VIEW_MINE,
    perm.ESTIMATES_VIEW_ALL,
    perm.ESTIMATES_VIEW_MINE,
)

# In the order the navigation shows them.
AREAS: tuple[Area, ...] = (
    Area("home", "/", "nav.main.home", lambda p: True),
    Area("tickets", "/tickets", "nav.main.tickets", _any(perm.TICKETS_VIEW_ALL, perm.TICKETS_VIEW_MINE)),
    Area("billing", "/billing", "nav.main.billing", _any(*_BILLING)),
    Area("invoices", "/billing/invoices", "nav.main.invoices", _any(perm.INVOICES_VIEW_ALL, perm.INVOICES_VIEW_MINE)),
    Area("payments", "/billing/payments", "nav.main.payments", _any(perm.PAYMENTS_VIEW_ALL, perm.PAYMENTS_VIEW_MINE)),
    Area(
        "estimates", "/billing/estimates", "nav.main.estimates", _any(perm.ESTIMATES_VIEW_ALL, perm.ESTIMATES_VIEW_MINE)
    ),
    Area("assets", "/assets", "nav.main.assets", asset_rules.may_view),
    Area("documents", "/documents", "nav.main.documents", _any(perm.ATTACHMENTS_VIEW_PUBLIC, perm.DOCUMENTS_UPLOAD)),
    Area("credentials", "/credentials", "nav.main.credentials", credential_rules.may_view),
    Area("kb", "/kb", "nav.main.kb", _any(perm.KNOWLEDGE_BASE_VIEW)),
    # Staff's requests to reach the customer's devices (X1) are about assets: whoever sees assets answers them.
    Area("remote_requests", "/remote-requests", "nav.main.remote_requests", asset_rules.may_view),
)
_BY_KEY = {a.key: a for a in AREAS}


def may_open(principal: Principal, key: str) -> bool:
    """Whether the principal's group opens the area `key` (one of AREAS); a portal page answers 404 otherwise."""
    return _BY_KEY[key].allowed(principal)


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    href: str
    label: str
    current: bool


def portal_nav(principal: Principal | None, path: str) -> list[NavItem]:
    """The main navigation of a portal page: the areas the principal may open, the one `path` is in marked current
    (the longest matching link, so /billing/invoices/… is Invoices, not Billing). Empty for staff and for nobody:
    the staff console has its own links. A secure link's principal gets the areas its permissions open (its
    ticket or site narrows what the lists show, never which pages exist)."""
    if principal is None or principal.is_staff:
        return []
    shown = [a for a in AREAS if a.allowed(principal)]
    matching = [a for a in shown if path == a.href or (a.href != "/" and path.startswith(a.href + "/"))]
    here = max(matching, key=lambda a: len(a.href)).key if matching else ""
    return [NavItem(a.key, a.href, a.label, a.key == here) for a in shown]
