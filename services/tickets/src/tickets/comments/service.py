"""Comment rules: public comments and private staff notes, and who may read and write which.

Functions take the caller's session and never commit: the RPC's unit of work does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import pagination
from servicekit.errors import FailedPrecondition, PermissionDenied
from servicekit.principal import Principal
from tickets.db import UtcDateTime
from tickets.events import publish
from tickets.text import text_field
from tickets.tickets.models import Comment, Ticket
from tickets.tickets.service import author_kind, get_ticket, index_comment

BODY_MAX = 20_000
AUTHOR_NAME_MAX = 200
# The kind of author of a comment written from another service's event (neither staff nor a portal user).
SYSTEM_AUTHOR_KIND = "system"
CLOSED_MESSAGE = "this ticket is closed and takes no new comments; open a new ticket if you need more help"


@dataclass(frozen=True)
class CommentPage:
    comments: list[Comment]
    next_cursor: str


async def add_comment(
    session: AsyncSession,
    *,
    principal: Principal,
    ticket_id: str,
    body: str,
    private: bool = False,
    author_name: str = "",
) -> Comment:
    """Comment on a ticket the principal may see; only staff write private notes; closed tickets take none."""
    if private and not principal.is_staff:
        raise PermissionDenied("only staff write private notes")
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    body = text_field(body, field="body", label="comment", limit=BODY_MAX, one_line=False)
    if ticket.closed_at is not None:
        raise FailedPrecondition(CLOSED_MESSAGE)
    now = datetime.now(UTC)
    comment = Comment(
        id=str(uuid.uuid4()),
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        body=body,
        is_public=not private,
        author_kind=author_kind(principal),
        author_id=principal.subject_id,
        author_name=" ".join((author_name or principal.display_name).split())[:AUTHOR_NAME_MAX],
        created_at=now,
    )
    session.add(comment)
    if comment.is_public:
        ticket.updated_at = now
    await index_comment(session, ticket_id=ticket.id, body=body, public=comment.is_public)
    await publish.ticket_commented(session, ticket, comment)
    if comment.author_kind == "portal_user":
        await publish.customer_commented(session, ticket, comment)
    return comment


async def add_system_comment(
    session: AsyncSession, *, ticket_id: str, customer_id: str, comment_id: str, body: str, author_name: str
) -> Comment | None:
    """A public comment another service's event writes (the remote service's run, session and access records): only
    on a ticket of `customer_id`, so an event can never write on, or reveal, another customer's ticket; also on a
    closed ticket, since it is a record of what happened. `comment_id` is derived from the event, so a replay finds
    the comment it wrote and adds nothing. None when there is no such ticket of that customer."""
    try:
        canonical = str(uuid.UUID(ticket_id))
    except (ValueError, TypeError):
        return None
    if not customer_id:
        return None
    ticket = await session.scalar(sa.select(Ticket).where(Ticket.id == canonical, Ticket.customer_id == customer_id))
    if ticket is None:
        return None
    existing = await session.get(Comment, comment_id)
    if existing is not None:
        return existing
    body = body.replace("\x00", "").strip()[:BODY_MAX]
    now = datetime.now(UTC)
    comment = Comment(
        id=comment_id,
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        body=body,
        is_public=True,
        author_kind=SYSTEM_AUTHOR_KIND,
        author_id="",
        author_name=" ".join(author_name.split())[:AUTHOR_NAME_MAX],
        created_at=now,
    )
    session.add(comment)
    ticket.updated_at = now
    await index_comment(session, ticket_id=ticket.id, body=body, public=True)
    await publish.ticket_commented(session, ticket, comment)
    return comment


async def list_comments(
    session: AsyncSession, *, principal: Principal, ticket_id: str, page_size: int = 0, cursor: str = ""
) -> CommentPage:
    """A ticket's comments, newest first; portal users get public ones only."""
    size = pagination.page_size(page_size)
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    q = sa.select(Comment).where(Comment.ticket_id == ticket.id)
    if not principal.is_staff:
        q = q.where(Comment.is_public.is_(True))
    after = pagination.keyset(cursor)
    if after is not None:
        q = q.where(
            sa.tuple_(Comment.created_at, Comment.id)
            < sa.tuple_(sa.literal(after[0], UtcDateTime()), sa.literal(after[1], sa.String()))
        )
    rows = list((await session.scalars(q.order_by(Comment.created_at.desc(), Comment.id.desc()).limit(size + 1))).all())
    if len(rows) <= size:
        return CommentPage(rows, "")
    rows = rows[:size]
    return CommentPage(rows, pagination.keyset_cursor(rows[-1].created_at, rows[-1].id))


async def ticket_with_public_comments(
    session: AsyncSession, *, principal: Principal, ticket_id: str, limit: int = 500
) -> tuple[Ticket, list[Comment]]:
    """A ticket the principal may see and its newest public comments (for documents sent to customers)."""
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    rows = await session.scalars(
        sa.select(Comment)
        .where(Comment.ticket_id == ticket.id, Comment.is_public.is_(True))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(limit)
    )
    return ticket, list(rows.all())
