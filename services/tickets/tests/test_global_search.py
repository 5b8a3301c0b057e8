"""Global search (SPEC H4) in tickets: tickets, comments and articles from migration 0013's and 0006's full-text
indexes, on SQLite (FTS5) and PostgreSQL (tsvector), seen exactly as the list RPCs would show them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa
from alembic import command

from portal.common.v1 import search_pb2
from portal.tickets.v1 import tickets_pb2
from servicekit import migrations
from servicekit.db import Database
from servicekit.errors import InvalidArgument
from servicekit.permissions import KNOWLEDGE_BASE_VIEW, TICKETS_CREATE, TICKETS_VIEW_ALL, TICKETS_VIEW_MINE
from servicekit.principal import KIND_SECURE_LINK, Principal
from tickets import search
from tickets.comments import service as comments
from tickets.knowledge import service as knowledge
from tickets.main import MIGRATIONS
from tickets.tickets import service

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL, KNOWLEDGE_BASE_VIEW}
MINE = {TICKETS_CREATE, TICKETS_VIEW_MINE}


async def find(db: Database, principal: Principal, text: str, *kinds: str, customer_id: str = "", limit: int = 0):  # noqa: ANN201
    msg = search_pb2.SearchQuery(query=text, kinds=kinds, limit_per_kind=limit, customer_id=customer_id)
    async with db.unit_of_work() as s:
        found = await search.search(s, principal=principal, query=search.parse(msg, staff=principal.is_staff))
    return [(h.kind, h.id) for h in found.hits], found


async def test_search_finds_what_the_user_may_see_and_nothing_else(db, principals) -> None:  # noqa: ANN001
    a = principals.portal("cust-a", "contact-a", permissions=ALL)
    a_mine = principals.portal("cust-a", "contact-a2", permissions=MINE)
    b = principals.portal("cust-b", "contact-b", permissions=ALL)
    staff = principals.staff()
    async with db.unit_of_work() as s:
        printer = await service.create_ticket(s, principal=a, subject="Printer jams", description="Tray two " * 60)
        other = await service.create_ticket(s, principal=a_mine, subject="Laptop battery", description="Swollen")
        theirs = await service.create_ticket(s, principal=b, subject="Printer of B", description="Secret zebra")
        draft = await knowledge.create_article(s, principal=staff, title="Zebra draft", body="unpublished")
        article = await knowledge.create_article(
            s, principal=staff, title="Resetting the router", body="Hold the button", published=True
        )
    async with db.unit_of_work() as s:
        public = await comments.add_comment(s, principal=a, ticket_id=printer.id, body="The fuser is overheating")
        private = await comments.add_comment(
            s, principal=staff, ticket_id=printer.id, body="Fuser warranty void, coffeespill", private=True
        )
        await comments.add_comment(s, principal=b, ticket_id=theirs.id, body="Zebra fuser elsewhere")

    # A word in a comment finds the comment, which names its ticket.
    hits, found = await find(db, a, "overheating")
    assert hits == [("comment", public.id)] and found.hits[0].parent_id == printer.id
    assert found.hits[0].title == f"#{printer.number} Printer jams"
    # Prefixes: "overh" and "print" find words that start so.
    assert ("comment", public.id) in (await find(db, a, "overh"))[0]
    assert (await find(db, a, "print", "ticket"))[0] == [("ticket", printer.id)]
    # By number, with or without '#': that ticket first.
    for text in (str(printer.number), f"#{printer.number}"):
        hits, found = await find(db, a, text)
        assert hits[0] == ("ticket", printer.id) and found.hits[0].rank == search.NUMBER_RANK
    # Never another customer's ticket or comment, not even by its number.
    assert (await find(db, a, "zebra"))[0] == []
    assert (await find(db, a, f"#{theirs.number}"))[0] == []
    assert ("comment", private.id) not in (await find(db, a, "fuser"))[0]
    # Never a private note for a portal user; staff see it.
    assert (await find(db, a, "coffeespill"))[0] == []
    assert (await find(db, staff, "coffeespill"))[0] == [("comment", private.id)]
    # View Mine sees its own tickets only.
    assert (await find(db, a_mine, "laptop"))[0] == [("ticket", other.id)]
    assert (await find(db, a_mine, "printer"))[0] == []
    # Articles: by title, published only for portal users, all for staff; without the permission, none.
    assert (await find(db, a, "router"))[0] == [("article", article.id)]
    assert (await find(db, a, "zebra", "article"))[0] == []
    assert ("article", draft.id) in (await find(db, staff, "zebra"))[0]
    assert (await find(db, a_mine, "router"))[0] == []
    # Staff see every customer, or one when they ask.
    assert {("ticket", printer.id), ("ticket", theirs.id)} <= set((await find(db, staff, "printer"))[0])
    assert (await find(db, staff, "printer", "ticket", customer_id="cust-b"))[0] == [("ticket", theirs.id)]
    # A secure link sees its one ticket.
    link = Principal(
        kind=KIND_SECURE_LINK,
        subject_id="link-1",
        customer_id="cust-a",
        customer_ids=("cust-a",),
        permissions=frozenset({TICKETS_VIEW_ALL}),
        link_ticket_id=other.id,
    )
    assert (await find(db, link, "printer laptop fuser"))[0] == []
    assert (await find(db, link, "laptop"))[0] == [("ticket", other.id)]
    # Snippets: plain text, at most 200 characters, around the match.
    hits, found = await find(db, a, "printer", "ticket")
    assert 0 < len(found.hits[0].snippet) <= 200 and "Tray two" in found.hits[0].snippet
    # Limits: one per kind, and the kind says it had more.
    async with db.unit_of_work() as s:
        await service.create_ticket(s, principal=a, subject="Printer toner", description="Low")
    _, found = await find(db, a, "printer", "ticket", limit=1)
    assert len(found.hits) == 1 and found.truncated_kinds == ["ticket"]
    # Edits are indexed: the old subject is gone, the new one found.
    async with db.unit_of_work() as s:
        await service.update_ticket(s, principal=a, ticket_id=other.id, subject="Docking station")
    assert (await find(db, a_mine, "docking"))[0] == [("ticket", other.id)]
    assert (await find(db, a_mine, "laptop"))[0] == []


@pytest.mark.parametrize(
    "text",
    [
        '"',
        'printer"',
        "*",
        "print*",
        "OR",
        "printer OR zebra",
        "NEAR(printer zebra)",
        "--",
        "printer --",
        "'; DROP TABLE tickets; --",
        "a:* | b",
        "!(x)",
        "^printer",
        "printer AND NOT fuser",
        "{subject}: x",
        "\\",
    ],
)
async def test_query_syntax_is_never_syntax(db, principals, text: str) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    async with db.unit_of_work() as s:
        mine = await service.create_ticket(s, principal=user, subject="Printer", description="jams")
        await service.create_ticket(
            s, principal=principals.portal("cust-b", permissions=ALL), subject="Zebra", description="printer"
        )
    hits, _ = await find(db, user, text)
    # Words are words: what is found is this customer's printer ticket or nothing, never an error.
    assert set(hits) <= {("ticket", mine.id)}
    async with db.unit_of_work() as s:
        assert await s.scalar(sa.text("SELECT count(*) FROM tickets")) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (search_pb2.SearchQuery(query="   "), "query"),
        (search_pb2.SearchQuery(query="x" * 201), "query"),
        (search_pb2.SearchQuery(query="a\x00b"), "query"),
        (search_pb2.SearchQuery(query="printer", kinds=["invoice"]), "kinds"),
        (search_pb2.SearchQuery(query="printer", limit_per_kind=21), "limit_per_kind"),
        (search_pb2.SearchQuery(query="printer", limit_per_kind=-1), "limit_per_kind"),
    ],
)
def test_bad_queries_are_refused_naming_the_field(query: search_pb2.SearchQuery, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        search.parse(query, staff=False)
    assert err.value.field == field


async def test_search_over_grpc(served, principals) -> None:  # noqa: ANN001
    user = principals.portal("cust-a", "contact-a", permissions=ALL)
    meta = served.keys.metadata(user)
    created = await served.stub.CreateTicket(
        tickets_pb2.CreateTicketRequest(subject="Scanner offline", description="Since Monday"), metadata=meta
    )
    req = tickets_pb2.SearchRequest(query=search_pb2.SearchQuery(query="scann", kinds=["ticket"]))
    answer = await served.stub.Search(req, metadata=meta)
    (hit,) = answer.results.hits
    assert (hit.kind, hit.id, hit.customer_id) == ("ticket", created.ticket.id, "cust-a")
    assert hit.title == f"#{created.ticket.number} Scanner offline" and hit.updated_at.seconds > 0
    bad = tickets_pb2.SearchRequest(query=search_pb2.SearchQuery(query=""))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await served.stub.Search(bad, metadata=meta)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("query: ")


async def test_migration_0013_indexes_existing_rows(db_url: str, principals) -> None:  # noqa: ANN001
    config = migrations.alembic_config(MIGRATIONS, db_url)
    await asyncio.to_thread(command.upgrade, config, "0012")
    database = Database(db_url)
    ticket_id, comment_id = str(uuid.uuid4()), str(uuid.uuid4())
    at = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        async with database.unit_of_work() as s:
            await s.execute(
                sa.text(
                    "INSERT INTO tickets (id, number, customer_id, contact_id, subject, description, status, priority,"
                    " issue_type, created_by, created_at, updated_at, assignee_id, site_id, asset_id) VALUES (:id, 7,"
                    " 'cust-a', 'contact-a', 'Old Router', 'Blinking LED', 'New', 'Normal', 'General', 'u',"
                    " :at, :at, '', '', '')"
                ),
                {"id": ticket_id, "at": at},
            )
            await s.execute(
                sa.text(
                    "INSERT INTO comments (id, ticket_id, customer_id, body, is_public, author_kind, author_id,"
                    " author_name, created_at) VALUES (:id, :t, 'cust-a', 'Firmware upgraded', true, 'staff', 's',"
                    " 'S', :at)"
                ),
                {"id": comment_id, "t": ticket_id, "at": at},
            )
        await migrations.upgrade(MIGRATIONS, db_url)
        user = principals.portal("cust-a", "contact-a", permissions=ALL)
        assert (await find(database, user, "blink"))[0] == [("ticket", ticket_id)]
        assert (await find(database, user, "firmware"))[0] == [("comment", comment_id)]
        assert (await find(database, user, "#7"))[0] == [("ticket", ticket_id)]
    finally:
        await database.dispose()


async def test_postgresql_answers_from_the_fulltext_indexes(db, db_url: str) -> None:  # noqa: ANN001
    if not db_url.startswith("postgresql"):
        pytest.skip("the expression indexes are PostgreSQL's (SQLite's FTS5 tables are indexes themselves)")
    statements = {
        "ix_tickets_fulltext": sa.select(sa.literal_column("id"))
        .select_from(sa.table("tickets"))
        .where(search._TICKET_VECTOR.op("@@")(search._tsquery(["printer"]))),
        "ix_comments_fulltext": sa.select(sa.literal_column("id"))
        .select_from(sa.table("comments"))
        .where(search._COMMENT_VECTOR.op("@@")(search._tsquery(["printer"]))),
    }
    async with db.unit_of_work() as s:
        await s.execute(sa.text("SET LOCAL enable_seqscan = off"))
        for index, statement in statements.items():
            compiled = statement.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            plan = "\n".join((await s.execute(sa.text(f"EXPLAIN {compiled}"))).scalars())
            assert index in plan, plan
