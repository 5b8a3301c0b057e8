"""Attachment rules: who may attach to and read which ticket's files; the checks on the file itself are in
servicekit.uploads (one pipeline for every service that takes files). Functions never commit and never touch the blob
store: the servicer streams the bytes to it outside the unit of work and passes the keys in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from servicekit.principal import Principal
from tickets.tickets.models import Attachment, Comment, Ticket
from tickets.tickets.service import IDEMPOTENCY_KEY_MAX, get_ticket


async def writable_ticket(session: AsyncSession, *, principal: Principal, ticket_id: str, private: bool) -> Ticket:
    """The open ticket a file may be attached to, checked before any byte is stored."""
    if private and not principal.is_staff:
        raise PermissionDenied("only staff attach private files")
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    if ticket.closed_at is not None:
        raise FailedPrecondition("this ticket is closed and takes no new attachments")
    return ticket


async def add_attachment(
    session: AsyncSession,
    *,
    principal: Principal,
    ticket_id: str,
    comment_id: str,
    filename: str,
    content_type: str,
    size_bytes: int,
    blob_key: str,
    thumbnail_key: str = "",
    private: bool = False,
    idempotency_key: str = "",
) -> Attachment:
    """Record a stored file on the ticket (or on one of its comments the principal may see)."""
    ticket = await writable_ticket(session, principal=principal, ticket_id=ticket_id, private=private)
    if comment_id:
        q = sa.select(Comment.id).where(Comment.id == comment_id, Comment.ticket_id == ticket.id)
        if not principal.is_staff:
            q = q.where(Comment.is_public.is_(True))
        if await session.scalar(q) is None:
            raise InvalidArgument("no such comment on this ticket", field="comment_id")
    now = datetime.now(UTC)
    att = Attachment(
        id=str(uuid.uuid4()),
        ticket_id=ticket.id,
        comment_id=comment_id,
        customer_id=ticket.customer_id,
        filename=filename,
        content_type=content_type,
        size_bytes=size_bytes,
        blob_key=blob_key,
        thumbnail_key=thumbnail_key,
        is_public=not private,
        created_by=principal.subject_id,
        created_at=now,
        idempotency_key=idempotency_key or None,
    )
    session.add(att)
    ticket.updated_at = now if att.is_public else ticket.updated_at
    return att


async def list_attachments(session: AsyncSession, *, principal: Principal, ticket_id: str) -> list[Attachment]:
    """The ticket's files, oldest first; portal users see public ones only."""
    ticket = await get_ticket(session, principal=principal, ticket_id=ticket_id)
    q = sa.select(Attachment).where(Attachment.ticket_id == ticket.id)
    if not principal.is_staff:
        q = q.where(Attachment.is_public.is_(True))
    return list((await session.scalars(q.order_by(Attachment.created_at, Attachment.id).limit(500))).all())


async def get_attachment(
    session: AsyncSession, *, principal: Principal, attachment_id: str, ticket_id: str = ""
) -> Attachment:
    """One file of a ticket the principal may see (the ticket id, when given, must match); else not found."""
    try:
        canonical = str(uuid.UUID(attachment_id))
    except (ValueError, TypeError):
        raise NotFound("attachment not found") from None
    att = await session.scalar(sa.select(Attachment).where(Attachment.id == canonical))
    if att is None or (ticket_id and ticket_id != att.ticket_id) or (not att.is_public and not principal.is_staff):
        raise NotFound("attachment not found")
    try:
        await get_ticket(session, principal=principal, ticket_id=att.ticket_id)
    except NotFound:
        raise NotFound("attachment not found") from None
    return att


async def by_idempotency_key(
    session: AsyncSession, *, principal: Principal, ticket_id: str, idempotency_key: str
) -> Attachment | None:
    """The attachment an earlier upload with this key made (same uploader, same ticket), if any."""
    if not idempotency_key:
        return None
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX or "\x00" in idempotency_key:
        raise InvalidArgument(
            f"the idempotency key must be at most {IDEMPOTENCY_KEY_MAX} characters, without NUL",
            field="idempotency_key",
        )
    return await session.scalar(
        sa.select(Attachment).where(
            Attachment.ticket_id == ticket_id,
            Attachment.created_by == principal.subject_id,
            Attachment.idempotency_key == idempotency_key,
        )
    )
