"""Ticket rules: who may open and see which tickets, what a valid ticket is, numbering and idempotency.

Functions take the caller's session and never commit: the RPC's unit of work does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import pagination
from servicekit.db import signal_after_commit
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL, TICKETS_VIEW_MINE
from servicekit.principal import Principal, require, visibility
from tickets import metrics
from tickets.db import UtcDateTime
from tickets.events import publish
from tickets.text import checked_text
from tickets.tickets import statuses
from tickets.tickets.models import TICKET_NUMBER_COUNTER, Comment, Counter, Ticket

PRIORITIES = ("Low", "Normal", "High", "Urgent")
DEFAULT_PRIORITY = "Normal"
DEFAULT_ISSUE_TYPE = "General"
STATUS_NEW = statuses.NEW
STATUS_CLOSED = statuses.CLOSED
SORTS = ("newest", "oldest", "updated")
QUERY_MAX = 200

SUBJECT_MAX = 200
DESCRIPTION_MAX = 20_000
ISSUE_TYPE_MAX = 100
IDEMPOTENCY_KEY_MAX = 200
REFERENCE_ID_MAX = 64
CONTACT_NAME_MAX = 200


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    # Empty when this is the last page.
    next_cursor: str


async def create_ticket(
    session: AsyncSession,
    *,
    principal: Principal,
    subject: str,
    description: str,
    priority: str = "",
    issue_type: str = "",
    customer_id: str = "",
    contact_id: str = "",
    idempotency_key: str = "",
    site_id: str = "",
    asset_id: str = "",
    default_assignee: str = "",
    contact_name: str = "",
    ticket_id: str = "",
) -> Ticket:
    """Open a ticket (portal users for their own customer and contact), or return the one this key already made.

    `ticket_id` is for a ticket whose id another service chose before it existed (remote's script run on a new
    ticket, SPEC X2: the consumer of its ScriptRunFinished opens it); '' gives a new uuid4. The RPCs never pass it.

    The site and asset must have been checked against the customer (refs.RefChecker) before this is called. Staff
    give the contact's name with its id (the gateway reads it from identity); a portal user's ticket takes the
    name of the user's own contact, which identity puts in the principal, unless a View All user chose another
    of its customer's contacts (then the gateway gives that contact's name, read from identity, like staff).
    Tickets cannot ask identity whether that contact is the customer's: a caller going round the gateway could
    only label its own customer's ticket with an id it already knows, which shows nothing to anyone else."""
    customer_id = creating_customer(principal, customer_id)
    if principal.is_staff:
        contact_id = _reference_id(contact_id, field="contact_id")
        contact_name = _contact_name(contact_name, contact_id)
    elif (chosen := _reference_id(contact_id, field="contact_id")) and chosen != principal.contact_id:
        # A user who sees all the customer's tickets may open one for another of its contacts (T3); the gateway
        # picked the contact from identity's list of this customer's contacts, and gives its name.
        if not principal.has(TICKETS_VIEW_ALL) or principal.link_ticket_id or principal.link_site_id:
            raise PermissionDenied("only users who see all the customer's tickets can open one for another contact")
        contact_id, contact_name = chosen, _contact_name(contact_name, chosen)
    else:
        contact_id = principal.contact_id
        # A user linked to a contact carries that contact's name; a customer-level user (or a link) has none.
        contact_name = _one_line(principal.display_name)[:CONTACT_NAME_MAX] if contact_id else ""
    subject = _subject(subject)
    description = _description(description)
    priority = _priority(priority)
    issue_type = _issue_type(issue_type)
    key = _idempotency_key(idempotency_key)
    site_id = link_site(principal, _reference_id(site_id, field="site_id"))
    asset_id = _reference_id(asset_id, field="asset_id")
    # Portal tickets land on the configured default assignee (T3); staff assign theirs explicitly.
    assignee_id = "" if principal.is_staff else default_assignee
    created_by = principal.subject_id

    if key and (done := await _by_idempotency_key(session, customer_id, created_by, key)):
        return done
    # Touching the counter row locks it until commit (a row lock on PostgreSQL, the write lock on SQLite), so
    # creators queue here: a duplicate that was in flight has committed by the time we look again, numbers
    # are handed out in commit order without gaps, and on SQLite the transaction is a real one before the
    # SAVEPOINT below (a SAVEPOINT that opened the transaction would commit it on release).
    await session.execute(
        sa.update(Counter)
        .where(Counter.name == TICKET_NUMBER_COUNTER)
        .values(last_value=Counter.last_value)
        .execution_options(synchronize_session=False)
    )
    if key and (done := await _by_idempotency_key(session, customer_id, created_by, key)):
        return done

    now = datetime.now(UTC)
    try:
        async with session.begin_nested():
            number = await _next_number(session)
            ticket = Ticket(
                id=ticket_id or str(uuid.uuid4()),
                number=number,
                customer_id=customer_id,
                contact_id=contact_id,
                contact_name=contact_name,
                subject=subject,
                description=description,
                status=STATUS_NEW,
                priority=priority,
                issue_type=issue_type,
                created_by=created_by,
                created_at=now,
                updated_at=now,
                closed_at=None,
                idempotency_key=key,
                assignee_id=assignee_id,
                site_id=site_id,
                asset_id=asset_id,
                search_text=searchable(subject, description),
                private_text="",
            )
            session.add(ticket)
    except IntegrityError:
        # Only reachable if something bypassed the counter lock; the rolled-back savepoint took the number back.
        if key and (done := await _by_idempotency_key(session, customer_id, created_by, key)):
            return done
        raise
    await publish.ticket_created(session, ticket)
    signal_after_commit(session, metrics.OPENED_SIGNAL)
    return ticket


def link_site(principal: Principal, site_id: str) -> str:
    """The site of a ticket opened through a site link is the link's site (SPEC P6); naming another is refused."""
    if not principal.link_site_id:
        return site_id
    if site_id and site_id != principal.link_site_id:
        raise PermissionDenied("this secure link opens tickets on its own site only")
    return principal.link_site_id


def no_link(principal: Principal) -> None:
    """A secure link reads, comments and opens tickets (SPEC P6); editing and closing are for signed-in users."""
    if principal.is_link:
        raise PermissionDenied("a secure link cannot change or close tickets")


def creating_customer(principal: Principal, customer_id: str = "") -> str:
    """The customer a ticket opened by this principal is for: staff name it, a customer's user opens tickets for
    its own customer whatever the request says."""
    require(principal, TICKETS_CREATE)
    if principal.is_staff:
        return _reference_id(customer_id, field="customer_id", required=True)
    if not principal.customer_id:
        raise PermissionDenied("your sign-in is not linked to a customer")
    return principal.customer_id


async def mark_invoiced(
    session: AsyncSession, *, ticket_id: str, customer_id: str, invoice_id: str, invoice_number: str
) -> bool:
    """Set the invoiced marker (T1) from billing's invoice event; only on a ticket of the invoice's customer, so
    an invoice can never mark, or reveal, another customer's ticket. Returns whether a ticket was marked."""
    try:
        canonical = str(uuid.UUID(ticket_id))
    except (ValueError, TypeError):
        return False
    if not customer_id or not invoice_id:
        return False
    ticket = await session.scalar(
        sa.select(Ticket).where(Ticket.id == canonical, Ticket.customer_id == customer_id).with_for_update()
    )
    if ticket is None:
        return False
    ticket.invoice_id = invoice_id[:REFERENCE_ID_MAX]
    ticket.invoice_number = invoice_number[:REFERENCE_ID_MAX]
    return True


async def list_tickets(
    session: AsyncSession,
    *,
    principal: Principal,
    page_size: int = 0,
    cursor: str = "",
    open_only: bool = False,
    query: str = "",
    status_in: list[str] | tuple[str, ...] = (),
    status_not_in: list[str] | tuple[str, ...] = (),
    sort: str = "",
    mine_only: bool = False,
    site_id: str = "",
    asset_id: str = "",
    assignee_id: str = "",
    unassigned_only: bool = False,
    customer_id: str = "",
    priority: str = "",
) -> TicketPage:
    """The tickets the principal may see, searched, filtered and sorted, one keyset page at a time. The staff
    queue's filters (assignee, unassigned, customer, priority) only ever narrow what the principal sees."""
    size = pagination.page_size(page_size)
    sort = sort or "newest"
    if sort not in SORTS:
        raise InvalidArgument(f"the sort must be one of {', '.join(SORTS)}", field="sort")
    after = pagination.keyset(cursor, sort)
    scope = visible_to(principal)
    if scope is None:
        return TicketPage(tickets=[], next_cursor="")
    q = sa.select(Ticket).where(*scope)
    if open_only:
        q = q.where(Ticket.closed_at.is_(None))
    if mine_only and not principal.is_staff:
        q = q.where(*_mine(principal))
    if status_in or status_not_in:
        in_force = await statuses.current(session)
        if status_in:
            q = q.where(Ticket.status.in_(statuses.canonical(in_force, status_in, field="status_in")))
        if status_not_in:
            q = q.where(Ticket.status.not_in(statuses.canonical(in_force, status_not_in, field="status_not_in")))
    if site_id:
        q = q.where(Ticket.site_id == _reference_id(site_id, field="site_id"))
    if asset_id:
        q = q.where(Ticket.asset_id == _reference_id(asset_id, field="asset_id"))
    if assignee_id and unassigned_only:
        raise InvalidArgument("ask for one assignee or for unassigned tickets, not both", field="assignee_id")
    if assignee_id:
        q = q.where(Ticket.assignee_id == _reference_id(assignee_id, field="assignee_id"))
    if unassigned_only:
        q = q.where(Ticket.assignee_id == "")
    if customer_id:
        q = q.where(Ticket.customer_id == _reference_id(customer_id, field="customer_id"))
    if priority:
        q = q.where(Ticket.priority == _priority(priority))
    dialect = session.get_bind().dialect.name
    q = q.where(*_search(_words(query), staff=principal.is_staff, dialect=dialect))
    if dialect == "postgresql":
        # Plan with this call's values: after a few runs of a prepared statement PostgreSQL may keep a generic plan,
        # which knows neither how common the words are nor how large the customer is, and at a million tickets
        # such a plan collects every match to sort it (30+ ms) where walking the list's index takes 2 ms.
        await session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    key = Ticket.updated_at if sort == "updated" else Ticket.created_at
    ascending = sort == "oldest"
    if after is not None:
        at, last_id = after
        row = sa.tuple_(key, Ticket.id)
        bound = sa.tuple_(sa.literal(at, UtcDateTime()), sa.literal(last_id, sa.String()))
        q = q.where(row > bound if ascending else row < bound)
    order = (key.asc(), Ticket.id.asc()) if ascending else (key.desc(), Ticket.id.desc())
    rows = list((await session.scalars(q.order_by(*order).limit(size + 1))).all())
    if len(rows) <= size:
        return TicketPage(tickets=rows, next_cursor="")
    rows = rows[:size]
    last = rows[-1]
    last_at = last.updated_at if sort == "updated" else last.created_at
    return TicketPage(tickets=rows, next_cursor=pagination.keyset_cursor(last_at, last.id, sort))


async def get_ticket(session: AsyncSession, *, principal: Principal, ticket_id: str) -> Ticket:
    """One ticket the principal may see; any other ticket, whoever owns it, is simply not found."""
    try:
        canonical = str(uuid.UUID(ticket_id))
    except (ValueError, TypeError):
        raise InvalidArgument("must be a ticket id (a UUID)", field="ticket_id") from None
    try:
        scope = visible_to(principal)
    except PermissionDenied:
        scope = None  # a group without ticket views learns nothing about which tickets exist
    ticket = None
    if scope is not None:
        ticket = await session.scalar(sa.select(Ticket).where(Ticket.id == canonical, *scope))
    if ticket is None:
        raise NotFound("ticket not found")
    return ticket


async def update_ticket(
    session: AsyncSession, *, principal: Principal, ticket_id: str, subject: str = "", description: str = ""
) -> Ticket:
    """Change the subject and/or description; customers only while the ticket is open."""
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    no_link(principal)
    if ticket.closed_at is not None and not principal.is_staff:
        raise FailedPrecondition("this ticket is closed and can no longer be edited")
    if not subject.strip() and not description.strip():
        raise InvalidArgument("give a new subject or description", field="subject")
    if subject.strip():
        ticket.subject = _subject(subject)
    if description.strip():
        ticket.description = _description(description)
    ticket.updated_at = datetime.now(UTC)
    public = await session.scalars(
        sa.select(Comment.body)
        .where(Comment.ticket_id == ticket.id, Comment.is_public.is_(True))
        .order_by(Comment.created_at, Comment.id)
    )
    ticket.search_text = searchable(ticket.subject, ticket.description, *public.all())
    return ticket


async def close_ticket(session: AsyncSession, *, principal: Principal, ticket_id: str) -> Ticket:
    """Mark the ticket closed (closing a closed ticket changes nothing and tells no one again)."""
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    no_link(principal)
    if ticket.closed_at is not None and ticket.status == STATUS_CLOSED:
        return ticket
    now = datetime.now(UTC)
    ticket.status = STATUS_CLOSED
    ticket.closed_at = ticket.closed_at or now
    ticket.updated_at = now
    await publish.ticket_closed(session, ticket, closed_by=principal.subject_id, kind=author_kind(principal))
    return ticket


async def set_status(session: AsyncSession, *, principal: Principal, ticket_id: str, status: str) -> Ticket:
    """Staff only: move the ticket to any status in force (statuses.py). A closed one ends its open life (the customer
    is told once, as when it is closed); any other status on a closed ticket re-opens it."""
    if not principal.is_staff:
        raise PermissionDenied("only staff set a ticket's status")
    in_force = await statuses.current(session)
    (canonical,) = statuses.canonical(in_force, [status], field="status")
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    if canonical == ticket.status:
        return ticket
    now = datetime.now(UTC)
    was_closed = ticket.closed_at is not None
    ticket.status = canonical
    ticket.updated_at = now
    if statuses.is_closed(in_force, canonical):
        ticket.closed_at = ticket.closed_at or now
        if not was_closed:
            await publish.ticket_closed(session, ticket, closed_by=principal.subject_id, kind=author_kind(principal))
    else:
        ticket.closed_at = None
    return ticket


async def assign_ticket(session: AsyncSession, *, principal: Principal, ticket_id: str, assignee_id: str) -> Ticket:
    """Staff only: set (or clear, with '') who works on the ticket."""
    if not principal.is_staff:
        raise PermissionDenied("only staff assign tickets")
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    ticket.assignee_id = _reference_id(assignee_id, field="assignee_id")
    ticket.updated_at = datetime.now(UTC)
    return ticket


def searchable(*texts: str) -> str:
    """The text search looks in: the parts lower-cased, one per line (a search word never holds a newline, so no
    word can match across two parts)."""
    return "\n".join(t.lower() for t in texts)


async def index_comment(session: AsyncSession, *, ticket_id: str, body: str, public: bool) -> None:
    """Add a new comment's text to what search looks in; one UPDATE, so concurrent comments all land."""
    column = Ticket.search_text if public else Ticket.private_text
    await session.execute(
        sa.update(Ticket)
        .where(Ticket.id == ticket_id)
        .values({column: column + "\n" + body.lower()})
        .execution_options(synchronize_session=False)
    )


def author_kind(principal: Principal) -> str:
    """How comments and events name the kind of person acting: "staff" or "portal_user"."""
    return "staff" if principal.is_staff else "portal_user"


def visible_to(principal: Principal) -> list[sa.ColumnElement[bool]] | None:
    """Filters limiting tickets to the principal's visibility; None when it can see none at all."""
    vis = visibility(principal, view_all=TICKETS_VIEW_ALL, view_mine=TICKETS_VIEW_MINE)
    clauses: list[sa.ColumnElement[bool]] = []
    if vis.customer_ids is not None:
        customers = [c for c in vis.customer_ids if c]
        if not customers:
            return None
        clauses.append(Ticket.customer_id == customers[0] if len(customers) == 1 else Ticket.customer_id.in_(customers))
    if vis.contact_id is not None:
        if vis.contact_id:
            clauses.append(Ticket.contact_id == vis.contact_id)
        else:
            # "Mine" for a user that is the customer itself rather than one of its contacts: what it opened,
            # not every ticket that happens to have no contact.
            clauses += [Ticket.contact_id == "", Ticket.created_by == principal.subject_id]
    # A secure link sees its one ticket, or its one site's tickets, of its customer (SPEC P6).
    if principal.link_ticket_id:
        clauses.append(Ticket.id == principal.link_ticket_id)
    if principal.link_site_id:
        clauses.append(Ticket.site_id == principal.link_site_id)
    return clauses


def _mine(principal: Principal) -> list[sa.ColumnElement[bool]]:
    if principal.contact_id:
        return [Ticket.contact_id == principal.contact_id]
    return [Ticket.contact_id == "", Ticket.created_by == principal.subject_id]


def _words(query: str) -> list[str]:
    if len(query) > QUERY_MAX:
        raise InvalidArgument(f"the search must be at most {QUERY_MAX} characters", field="query")
    if "\x00" in query:
        raise InvalidArgument("the search must not contain NUL characters", field="query")
    return [w.lower() for w in query.split()][:10]


def _search(words: list[str], *, staff: bool, dialect: str) -> list[sa.ColumnElement[bool]]:
    """Every word must match. On PostgreSQL only the longest word (usually the rarest) is a LIKE, which the trigram
    index answers; the others are strpos() filters on the rows it finds. PostgreSQL multiplies the estimates of
    several LIKEs as if words were independent, which they rarely are ("network cabinet"): it would then expect a
    handful of rows, collect thousands from the index and sort them, instead of walking the list's index to the
    first page's worth — and that cost would grow with the table."""
    if not words:
        return []
    if dialect != "postgresql":
        return [_matches(w, staff=staff) for w in words]
    indexed = max(words, key=len)
    others = list(words)
    others.remove(indexed)
    return [_matches(indexed, staff=staff), *(_contains(w, staff=staff) for w in others)]


def _contains(word: str, *, staff: bool) -> sa.ColumnElement[bool]:
    """The word in what the searcher may read, as a filter no index answers (PostgreSQL's strpos is literal)."""
    public = sa.func.strpos(Ticket.search_text, word) > 0
    return sa.or_(public, sa.func.strpos(Ticket.private_text, word) > 0) if staff else public


def _matches(word: str, *, staff: bool) -> sa.ColumnElement[bool]:
    """The word in the subject, the description, or a comment — for portal users a public one only, so a
    search can never reveal what a private note says."""
    public = Ticket.search_text.contains(word, autoescape=True)
    if not staff:
        return public
    return sa.or_(public, Ticket.private_text.contains(word, autoescape=True))


async def _by_idempotency_key(session: AsyncSession, customer_id: str, created_by: str, key: str) -> Ticket | None:
    return await session.scalar(
        sa.select(Ticket).where(
            Ticket.customer_id == customer_id, Ticket.created_by == created_by, Ticket.idempotency_key == key
        )
    )


async def _next_number(session: AsyncSession) -> int:
    return (
        await session.execute(
            sa.update(Counter)
            .where(Counter.name == TICKET_NUMBER_COUNTER)
            .values(last_value=Counter.last_value + 1)
            .returning(Counter.last_value)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()


def _subject(value: str) -> str:
    # One line: runs of whitespace, newlines included, become one space (it ends up in email subjects).
    return checked_text(" ".join(value.split()), field="subject", label="subject", limit=SUBJECT_MAX)


def _description(value: str) -> str:
    return checked_text(value.strip(), field="description", label="description", limit=DESCRIPTION_MAX)


def _one_line(value: str) -> str:
    return " ".join(value.replace("\x00", "").split())


def _contact_name(value: str, contact_id: str) -> str:
    value = _one_line(value)
    if value and not contact_id:
        raise InvalidArgument("a contact name needs the contact_id it belongs to", field="contact_name")
    if len(value) > CONTACT_NAME_MAX:
        raise InvalidArgument(f"the contact name must be at most {CONTACT_NAME_MAX} characters", field="contact_name")
    return value


def _priority(value: str) -> str:
    value = value.strip()
    if not value:
        return DEFAULT_PRIORITY
    for allowed in PRIORITIES:
        if value.lower() == allowed.lower():
            return allowed
    raise InvalidArgument(f"the priority must be one of {', '.join(PRIORITIES)}", field="priority")


def _issue_type(value: str) -> str:
    value = " ".join(value.split())
    return (
        checked_text(value, field="issue_type", label="issue type", limit=ISSUE_TYPE_MAX)
        if value
        else DEFAULT_ISSUE_TYPE
    )


def _idempotency_key(value: str) -> str | None:
    value = value.strip()
    if len(value) > IDEMPOTENCY_KEY_MAX:
        raise InvalidArgument(
            f"the idempotency key must be at most {IDEMPOTENCY_KEY_MAX} characters", field="idempotency_key"
        )
    if "\x00" in value:
        raise InvalidArgument("the idempotency key must not contain NUL characters", field="idempotency_key")
    return value or None


def _reference_id(value: str, *, field: str, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{field} is required for staff", field=field)
    if len(value) > REFERENCE_ID_MAX or "\x00" in value:
        raise InvalidArgument(f"{field} is not a valid id", field=field)
    return value
