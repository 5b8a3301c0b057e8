"""Global search (SPEC H4), shared by the pages (/search, /staff/search) and the JSON API (/api/v1/search,
/api/v1/staff/search): one query fanned out to tickets, billing and assets at once under one deadline, the hits
merged into groups by kind in a fixed order, each with the URL of its page.

Only services the user has some permission for are asked. A service that fails, is not there yet (UNIMPLEMENTED)
or misses the deadline leaves its area out, and the answer says it is partial and which areas were not
searched — it is never an error. Each service filters by the principal itself; the gateway only asks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

import grpc

from gateway.clients import Backends
from gateway.clients import search as wire
from gateway.edge.metrics import SEARCH_UNSEARCHED
from gateway.edge.sessions import Session
from servicekit import permissions as perm
from servicekit.card_brands import method_label
from servicekit.principal import Principal

log = logging.getLogger(__name__)

QUERY_MAX = 200
LIMIT_PER_KIND = 5
# Groups always come in this order (the page and the API alike).
KINDS = ("ticket", "comment", "invoice", "estimate", "payment", "asset", "document", "article")
# Which service searches which kinds, in the order the answer names unsearched areas.
AREAS: dict[str, tuple[str, ...]] = {
    "tickets": ("ticket", "comment", "article"),
    "billing": ("invoice", "estimate", "payment"),
    "assets": ("asset", "document"),
}
CUSTOMER_ID_MAX = 64


class BadSearch(ValueError):
    """The query or the kinds are not acceptable: `field` and a message for the form or the problem."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    id: str
    title: str
    snippet: str
    url: str
    customer_id: str
    updated_at: datetime | None
    parent_id: str = ""
    # Staff answers only: the customer's display name ('' when identity could not say).
    customer_name: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    kind: str
    hits: list[Hit]
    # The service had more hits than it returned.
    more: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    query: str
    groups: list[Group]
    # Areas that were asked but did not answer in time (or failed): the answer is partial.
    unsearched: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.unsearched)

    @property
    def empty(self) -> bool:
        return not any(g.hits for g in self.groups)


def check_query(text: str) -> str:
    """The query trimmed, or BadSearch: 1 to 200 characters, no NUL (what every service also checks)."""
    value = " ".join(text.split())
    if not value:
        raise BadSearch("q", "type something to search for")
    if len(value) > QUERY_MAX:
        raise BadSearch("q", f"the search must be at most {QUERY_MAX} characters")
    if "\x00" in value:
        raise BadSearch("q", "the search must not contain NUL characters")
    return value


def check_kinds(values: Iterable[str]) -> tuple[str, ...]:
    """The kinds asked for ('a,b' and repeated values alike), in the fixed order; () = all. Unknown → BadSearch."""
    wanted = {k.strip().lower() for v in values for k in v.split(",") if k.strip()}
    unknown = sorted(wanted - set(KINDS))
    if unknown:
        raise BadSearch("kinds", f"unknown kind {unknown[0][:20]!r}; the kinds are {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in wanted)


def check_customer_id(value: str) -> str:
    value = value.strip()
    if len(value) > CUSTOMER_ID_MAX or "\x00" in value or "/" in value:
        raise BadSearch("customer_id", "is not a customer id")
    return value


def allowed_areas(principal: Principal) -> tuple[str, ...]:
    """The services worth asking: staff all three; a portal user those it has some view permission in."""
    if principal.is_staff:
        return tuple(AREAS)
    has = principal.has
    areas = []
    if has(perm.TICKETS_VIEW_ALL) or has(perm.TICKETS_VIEW_MINE) or has(perm.KNOWLEDGE_BASE_VIEW):
        areas.append("tickets")
    billing = (
        perm.INVOICES_VIEW_ALL,
        perm.INVOICES_VIEW_MINE,
        perm.ESTIMATES_VIEW_ALL,
        perm.ESTIMATES_VIEW_MINE,
        perm.PAYMENTS_VIEW_ALL,
        perm.PAYMENTS_VIEW_MINE,
    )
    if any(has(p) for p in billing):
        areas.append("billing")
    if has(perm.ASSETS_VIEW_ALL) or has(perm.ASSETS_VIEW_MINE) or has(perm.ATTACHMENTS_VIEW_PUBLIC):
        areas.append("assets")
    return tuple(areas)


async def search(
    backends: Backends,
    session: Session,
    text: str,
    kinds: Sequence[str] = (),
    *,
    deadline: float,
    customer_id: str = "",
    limit_per_kind: int = LIMIT_PER_KIND,
) -> Answer:
    """Ask every allowed service at once; what has not answered within `deadline` seconds is left out."""
    principal = session.principal
    staff = principal.is_staff
    wanted = tuple(kinds) or KINDS
    token = session.principal_token
    asked = {
        area: tuple(k for k in own if k in wanted)
        for area, own in AREAS.items()
        if area in allowed_areas(principal) and any(k in wanted for k in own)
    }
    clients = {"tickets": backends.tickets, "billing": backends.billing, "assets": backends.assets}
    started = time.monotonic()

    async def ask(area: str) -> wire.SearchResults | str:
        query = wire.query(text, asked[area], limit_per_kind=limit_per_kind, customer_id=customer_id if staff else "")
        try:
            # The gRPC deadline ends the call in the service too; wait_for is the guard should a channel hang.
            return await asyncio.wait_for(
                clients[area].search(token, query, deadline=deadline), timeout=deadline + 0.25
            )
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise
            if code == grpc.StatusCode.PERMISSION_DENIED:
                return "denied"  # the service knows the group better than our copy of the rules: nothing to show
            return code.name
        except TimeoutError:
            return "DEADLINE_EXCEEDED"

    answers = dict(zip(asked, await asyncio.gather(*(ask(a) for a in asked)), strict=True))
    hits: dict[str, list[wire.SearchHit]] = {k: [] for k in KINDS}
    truncated: set[str] = set()
    unsearched = []
    for area, answer in answers.items():
        if isinstance(answer, str):
            if answer != "denied":
                unsearched.append(area)
                SEARCH_UNSEARCHED.labels(area, answer).inc()
                log.warning("search area unsearched", extra={"area": area, "reason": answer})
            continue
        for hit in answer.hits:
            if hit.kind in asked[area]:  # a service answers for its own kinds only
                hits[hit.kind].append(hit)
        truncated |= set(answer.truncated_kinds) & set(asked[area])
    names = await _customer_names(backends, session, hits, deadline - (time.monotonic() - started)) if staff else {}
    groups = [
        Group(
            kind=kind,
            hits=[_hit(h, staff=staff, names=names) for h in hits[kind][:limit_per_kind]],
            more=kind in truncated,
        )
        for kind in KINDS
        if kind in wanted and any(kind in own for area, own in asked.items() if area not in unsearched)
    ]
    return Answer(query=text, groups=groups, unsearched=unsearched)


def url(kind: str, hit_id: str, *, parent_id: str = "", customer_id: str = "", staff: bool = False) -> str:
    """The page a hit opens; '' when there is none for this audience (staff have no article page)."""
    i, p, c = quote(hit_id, safe=""), quote(parent_id, safe=""), quote(customer_id, safe="")
    if staff:
        return {
            "ticket": f"/staff/tickets/{i}",
            "comment": f"/staff/tickets/{p}#comment-{i}",
            "invoice": f"/staff/invoices/{i}",
            "estimate": f"/staff/customers/{c}/billing" if c else "",
            "payment": f"/staff/customers/{c}/billing" if c else "",
            "asset": f"/staff/assets/{i}",
            "document": f"/staff/documents/{i}/download",
            "article": "",
        }.get(kind, "")
    return {
        "ticket": f"/tickets/{i}",
        "comment": f"/tickets/{p}#comment-{i}",
        "invoice": f"/billing/invoices/{i}",
        "estimate": f"/billing/estimates/{i}",
        "payment": "/billing/payments",
        "asset": f"/assets/{i}",
        "document": f"/documents/{i}/download",
        "article": f"/kb/{i}",
    }.get(kind, "")


def _hit(h: wire.SearchHit, *, staff: bool, names: dict[str, str]) -> Hit:
    return Hit(
        kind=h.kind,
        id=h.id,
        parent_id=h.parent_id,
        # A payment's title is its method as billing records it ("visa 4242"): written as the pages write it.
        title=method_label(h.title) if h.kind == "payment" else h.title,
        # The services promise plain text of at most 200 characters; the gateway holds them to it.
        snippet=h.snippet[:200],
        url=url(h.kind, h.id, parent_id=h.parent_id, customer_id=h.customer_id, staff=staff),
        customer_id=h.customer_id,
        customer_name=names.get(h.customer_id, ""),
        updated_at=h.updated_at,
    )


async def _customer_names(
    backends: Backends, session: Session, hits: dict[str, list[wire.SearchHit]], budget: float
) -> dict[str, str]:
    """Staff see each hit's customer by name; identity is asked once per customer, within what is left of the
    deadline (at least a quarter second). A name identity cannot give in time is left blank."""
    ids = sorted({h.customer_id for group in hits.values() for h in group if h.customer_id})
    if not ids:
        return {}

    async def name(customer_id: str) -> str:
        try:
            return (await backends.identity.get_customer(session.principal_token, customer_id)).display_name
        except grpc.aio.AioRpcError:
            return ""

    try:
        found = await asyncio.wait_for(asyncio.gather(*(name(c) for c in ids)), timeout=max(budget, 0.25))
    except TimeoutError:
        return {}
    return dict(zip(ids, found, strict=True))
