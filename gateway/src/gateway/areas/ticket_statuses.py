"""The ticket statuses in force (the tickets service's configurable list, issue 12), as pages and the API read
them: the names a filter or a status form offers, and the label of each in the reader's language.

The list changes rarely and is read on most ticket pages, so each gateway process keeps the last answer for
TTL seconds, asking again beside the page from the middle of that time on. Pages call `refresh` before rendering
(free while fresh); the label functions, which templates call synchronously, read `current()`. A status no longer in
the list still shows, under its stored name. When the tickets service cannot answer, the last list (or the built-in
one) stays in use rather than failing a page.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import grpc

from gateway.clients import read_cache
from gateway.clients.schemas import TicketStatus
from gateway.clients.tickets import TicketsClient

log = logging.getLogger(__name__)

TTL = 10.0
# The read cache's version that moves when the list kept here changes (pages showing labels note it: page cache).
AREA = "ticket_statuses"
BUILT_IN = (
    TicketStatus(name="New"),
    TicketStatus(name="In Progress"),
    TicketStatus(name="Waiting on Customer"),
    TicketStatus(name="Scheduled"),
    TicketStatus(name="Resolved", closed=True),
    TicketStatus(name="Closed", closed=True),
)
BUILT_IN_NAMES = frozenset(st.name for st in BUILT_IN)


@dataclass(frozen=True)
class Catalogue:
    statuses: tuple[TicketStatus, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(st.name for st in self.statuses)

    def known(self, value: str) -> str | None:
        """The stored name for what someone typed or clicked (any case), or None."""
        value = value.strip().lower()
        for candidate in (value, value.replace("_", " ")):  # "waiting_on_customer" from older links, too
            if found := next((st.name for st in self.statuses if st.name.lower() == candidate), None):
                return found
        return None

    def label(self, lang: str, name: str) -> str:
        """The configured label in `lang`, or '' (then the product's own wording, or the name, is shown)."""
        for st in self.statuses:
            if st.name == name:
                return st.label_fr if lang == "fr" else st.label_en
        return ""


_current = Catalogue(BUILT_IN)
_fetched_at = float("-inf")
# How long `_current` is known to be the list in force; pages showing its labels note it (read_cache.Lease).
LEASE = read_cache.Lease(TTL)
# The client the last page asked with (the lease's renewal asks with it).
_tickets: TicketsClient | None = None


def current() -> Catalogue:
    return _current


async def refresh(tickets: TicketsClient, token: str) -> Catalogue:
    """The list in force, asked of the tickets service at most once per TTL (in the background, beside the page, from
    the middle of the TTL on: LEASE)."""
    global _tickets
    _tickets = tickets
    now = time.monotonic()
    if now - _fetched_at >= TTL:
        await _fetch(tickets, token)
    else:
        LEASE.renew_ahead(token, now)
    # A page kept by the page cache with these labels is sent again while the lease runs (or until they change).
    read_cache.note_page(AREA, LEASE)
    return _current


async def _fetch(tickets: TicketsClient, token: str) -> None:
    global _current, _fetched_at
    asked = time.monotonic()
    try:
        fetched = Catalogue(tuple(await tickets.ticket_statuses(token)))
        if fetched != _current:
            read_cache.CACHE.bump((), AREA, reason="ticket_statuses")
        _current = fetched
        LEASE.renewed(asked, _renew)
    except grpc.aio.AioRpcError as err:
        # The lease is not renewed: once it runs out, pages showing the labels are not kept until an ask succeeds.
        LEASE.failed(asked)
        log.warning("ticket statuses unavailable, keeping the last list: %s", err.code().name)
    _fetched_at = time.monotonic()


async def _renew(token: str) -> None:
    if _tickets is not None:
        await _fetch(_tickets, token)


def forget() -> None:
    """After this process changed the list: the next page asks again, and no page kept with the old one is sent."""
    global _fetched_at
    _fetched_at = float("-inf")
    LEASE.lapse()


# Statuses the list must keep (the tickets service refuses a list without them): no Remove box on the page.
FIXED = frozenset({"New", "Closed"})
