"""Ticket search (T4) over the columns migration 0007 keeps: every word in the subject, the description or a
visible comment, private notes for staff only, kept current by edits and comments, backfilled for old tickets;
on PostgreSQL answered from the pg_trgm index."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from servicekit import migrations
from servicekit.db import Database
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.comments import service as comments
from tickets.main import MIGRATIONS
from tickets.tickets import service

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}


async def search(db: Database, principal, query: str) -> list[int]:  # noqa: ANN001
    async with db.unit_of_work() as s:
        page = await service.list_tickets(s, principal=principal, page_size=100, query=query)
    return [t.number for t in page.tickets]


async def test_words_are_found_wherever_the_searcher_may_read_them(db, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    staff = principals.staff()
    async with db.unit_of_work() as s:
        ticket = await service.create_ticket(
            s, principal=user, subject="Scanner ÉTAGE 3", description="Paper 100% jammed"
        )
        other = await service.create_ticket(s, principal=user, subject="Mouse", description="Left button")
    async with db.unit_of_work() as s:
        await comments.add_comment(s, principal=user, ticket_id=ticket.id, body="Also the Fuser is HOT")
        await comments.add_comment(
            s, principal=staff, ticket_id=ticket.id, body="Warranty void: CoffeeSpill", private=True
        )

    assert await search(db, user, "scanner") == [ticket.number]
    assert await search(db, user, "étage") == [ticket.number]  # case-insensitive beyond ASCII
    assert await search(db, user, "fuser paper") == [ticket.number]  # words from different places
    assert await search(db, user, "100%") == [ticket.number]
    assert await search(db, user, "1_0%") == []  # LIKE wildcards are literal
    assert await search(db, user, "coffeespill") == []  # a private note is never searched for customers
    assert await search(db, staff, "coffeespill") == [ticket.number]
    assert await search(db, staff, "coffeespill fuser") == [ticket.number]
    assert await search(db, user, "button") == [other.number]

    # Editing the subject keeps the comments searchable, and the new subject is.
    async with db.unit_of_work() as s:
        await service.update_ticket(s, principal=user, ticket_id=ticket.id, subject="Copier")
    assert await search(db, user, "copier fuser") == [ticket.number]
    assert await search(db, user, "scanner") == []
    assert await search(db, staff, "coffeespill") == [ticket.number]


def at(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC)


async def test_migration_0007_backfills_old_tickets(db_url: str, principals) -> None:  # noqa: ANN001
    config = migrations.alembic_config(MIGRATIONS, db_url)
    await asyncio.to_thread(command.upgrade, config, "0006")
    database = Database(db_url)
    ticket_id = str(uuid.uuid4())
    try:
        async with database.unit_of_work() as s:
            await s.execute(
                sa.text(
                    "INSERT INTO tickets (id, number, customer_id, contact_id, subject, description, status, priority,"
                    " issue_type, created_by, created_at, updated_at, assignee_id, site_id, asset_id) VALUES (:id, 1,"
                    " 'cust-a', 'contact-a', 'Old Router', 'Blinking LED', 'New', 'Normal', 'General', 'u',"
                    " :at, :at, '', '', '')"
                ),
                {"id": ticket_id, "at": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            for n, (body, public) in enumerate((("Firmware UPGRADE done", True), ("Secret NoteWord", False))):
                await s.execute(
                    sa.text(
                        "INSERT INTO comments (id, ticket_id, customer_id, body, is_public, author_kind, author_id,"
                        " author_name, created_at) VALUES (:id, :t, 'cust-a', :body, :public, 'staff', 's', 'S', :at)"
                    ),
                    {
                        "id": str(uuid.uuid4()),
                        "t": ticket_id,
                        "body": body,
                        "public": public,
                        "at": at(n + 2),
                    },
                )
        await migrations.upgrade(MIGRATIONS, db_url)
        user = principals.portal("cust-a", "contact-a", permissions=ALL)
        assert await search(database, user, "router upgrade") == [1]
        assert await search(database, user, "noteword") == []
        assert await search(database, principals.staff(), "noteword blinking") == [1]
    finally:
        await database.dispose()


async def test_postgresql_answers_a_search_word_from_the_trigram_index(db, db_url: str) -> None:  # noqa: ANN001
    if not db_url.startswith("postgresql"):
        pytest.skip("the trigram index is PostgreSQL's")
    async with db.unit_of_work() as s:
        await s.execute(sa.text("SET LOCAL enable_seqscan = off"))
        for column, index in (("search_text", "ix_tickets_search_trgm"), ("private_text", "ix_tickets_private_trgm")):
            plan = "\n".join(
                (await s.execute(sa.text(f"EXPLAIN SELECT id FROM tickets WHERE {column} LIKE '%printer%'"))).scalars()  # noqa: S608
            )
            assert index in plan, plan
