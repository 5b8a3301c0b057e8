"""Global search (SPEC H4) over what tickets holds: tickets (number, subject, description), comments (public ones
for portal users, private notes too for staff) and knowledge-base articles (published ones for portal users).

Each kind is searched with its own full-text index (migration 0013 for tickets and comments, 0006 for articles):
PostgreSQL's tsvector expressions with a prefix `to_tsquery`, SQLite's FTS5 tables with quoted prefix terms. The
contract's checks, the words (letters and digits; quotes, `*`, `OR`, `NEAR(`, `--` are never query syntax), the
term query bound as a parameter, the snippets and the answer are servicekit.search's, as in billing and assets;
tickets keeps its own indexes, its ticket-number match and its visibility rules. A query that
is a ticket number ("1042", "#1042") puts that ticket first. Who sees what is exactly ListTickets' visibility
(tickets/service.visible_to), ListComments' (public comments only for portal users) and ListArticles'.

Functions take the caller's session and never commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from portal.common.v1 import search_pb2
from servicekit import search as shared
from servicekit.errors import PermissionDenied
from servicekit.permissions import KNOWLEDGE_BASE_VIEW
from servicekit.principal import Principal
from servicekit.search import Hit, Results, snippet, term_query
from tickets.knowledge.models import Article
from tickets.tickets.models import Comment, Ticket
from tickets.tickets.service import visible_to

KINDS = ("ticket", "comment", "article")
# Ranks above every full-text rank: the ticket whose number the query is.
NUMBER_RANK = 1_000_000.0
_NUMBER = re.compile(r"#?\s*(\d{1,18})")

# The same expressions as migration 0013's indexes (PostgreSQL uses an expression index only for its expression).
_TICKET_VECTOR = sa.literal_column(
    "(setweight(to_tsvector('simple'::regconfig, tickets.subject), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, tickets.description), 'B'))"
)
_COMMENT_VECTOR = sa.literal_column("to_tsvector('simple'::regconfig, comments.body)")
_ARTICLE_VECTOR = sa.literal_column("kb_articles.search_vector")


@dataclass(frozen=True)
class Query(shared.Query):
    """The query checked by servicekit (the contract's checks and words) and the ticket number it may be."""

    number: int | None = None


def parse(msg: search_pb2.SearchQuery, *, staff: bool) -> Query:
    """The checked query, or INVALID_ARGUMENT naming the field and what is wrong with it (servicekit.search)."""
    q = shared.parse_query(msg, kinds=KINDS, staff=staff)
    number = _NUMBER.fullmatch(q.text)
    return Query(q.text, q.words, q.kinds, q.limit, q.customer_id, number=int(number.group(1)) if number else None)


async def search(session: AsyncSession, *, principal: Principal, query: Query) -> Results:
    """What the principal may see that matches, best first per kind, at most `query.limit` per kind."""
    customer_id = query.customer_id
    dialect = (await session.connection()).dialect.name
    results = Results()
    try:
        scope = visible_to(principal)
    except PermissionDenied:
        scope = None  # a group without ticket views searches no tickets (nor their comments)
    if scope is not None and customer_id:
        scope = [*scope, Ticket.customer_id == customer_id]
    for kind in query.kinds:
        if kind == "ticket" and scope is not None:
            hits = await _tickets(session, query, scope, dialect)
        elif kind == "comment" and scope is not None:
            hits = await _comments(session, query, scope, dialect, staff=principal.is_staff)
        elif kind == "article" and principal.has(KNOWLEDGE_BASE_VIEW) and not customer_id and query.words:
            # Articles belong to no customer: a staff search narrowed to one customer leaves them out.
            hits = await _articles(session, query, dialect, staff=principal.is_staff)
        else:
            hits = []
        results.add(kind, hits, query.limit)
    return results


async def _tickets(session: AsyncSession, query: Query, scope: list, dialect: str) -> list[Hit]:
    hits: list[Hit] = []
    if query.number is not None:
        exact = await session.scalar(sa.select(Ticket).where(Ticket.number == query.number, *scope))
        if exact is not None:
            hits.append(_ticket_hit(exact, query.words, NUMBER_RANK))
    if query.words:
        q, order = _matched(
            (Ticket,),
            query.words,
            dialect,
            vector=_TICKET_VECTOR,
            fts="SELECT rowid AS found, bm25(tickets_fts, 10.0, 1.0) AS score FROM tickets_fts "
            "WHERE tickets_fts MATCH :match",
            key=sa.Integer(),
            record=Ticket.number,
        )
        q = q.where(*scope).order_by(order, Ticket.updated_at.desc(), Ticket.id).limit(query.limit + 1)
        for ticket, rank in (await session.execute(q)).all():
            if not hits or ticket.id != hits[0].id:
                hits.append(_ticket_hit(ticket, query.words, float(rank)))
    return hits


async def _comments(session: AsyncSession, query: Query, scope: list, dialect: str, *, staff: bool) -> list[Hit]:
    if not query.words:
        return []
    q, order = _matched(
        (Comment, Ticket),
        query.words,
        dialect,
        vector=_COMMENT_VECTOR,
        fts="SELECT comment_id AS found, bm25(comments_fts, 0.0, 1.0) AS score FROM comments_fts "
        "WHERE comments_fts MATCH :match",
        key=sa.String(),
        record=Comment.id,
    )
    q = q.join(Ticket, Ticket.id == Comment.ticket_id).where(*scope, Comment.customer_id == Ticket.customer_id)
    if not staff:
        q = q.where(Comment.is_public.is_(True))
    q = q.order_by(order, Comment.created_at.desc(), Comment.id).limit(query.limit + 1)
    return [
        Hit(
            kind="comment",
            id=comment.id,
            parent_id=ticket.id,
            title=f"#{ticket.number} {ticket.subject}",
            snippet=snippet([comment.body], query.words),
            customer_id=ticket.customer_id,
            updated_at=comment.created_at,
            rank=float(rank),
        )
        for comment, ticket, rank in (await session.execute(q)).all()
    ]


async def _articles(session: AsyncSession, query: Query, dialect: str, *, staff: bool) -> list[Hit]:
    q, order = _matched(
        (Article,),
        query.words,
        dialect,
        vector=_ARTICLE_VECTOR,
        fts="SELECT article_id AS found, bm25(kb_articles_fts, 0.0, 10.0, 1.0) AS score FROM kb_articles_fts "
        "WHERE kb_articles_fts MATCH :match",
        key=sa.String(),
        record=Article.id,
    )
    if not staff:
        q = q.where(Article.published.is_(True))
    q = q.order_by(order, Article.updated_at.desc(), Article.id).limit(query.limit + 1)
    return [
        Hit(
            kind="article",
            id=article.id,
            title=article.title,
            snippet=snippet([article.body], query.words),
            customer_id="",
            updated_at=article.updated_at,
            rank=float(rank),
        )
        for article, rank in (await session.execute(q)).all()
    ]


def _ticket_hit(ticket: Ticket, words: tuple[str, ...], rank: float) -> Hit:
    return Hit(
        kind="ticket",
        id=ticket.id,
        title=f"#{ticket.number} {ticket.subject}",
        snippet=snippet([ticket.description], words),
        customer_id=ticket.customer_id,
        updated_at=ticket.updated_at,
        rank=rank,
    )


def _matched(
    columns: tuple,
    words: tuple[str, ...],
    dialect: str,
    *,
    vector: sa.ColumnElement,
    fts: str,
    key: sa.types.TypeEngine,
    record: sa.ColumnElement,
) -> tuple[sa.Select, sa.ColumnElement]:
    """`SELECT columns, rank` of the records the words match, and the order that puts the best first: on PostgreSQL
    the index's `vector` against the prefix tsquery (ts_rank), on SQLite the FTS5 statement `fts` (its `found` key
    joined to `record`; bm25 is lower for better matches, so the rank is its negation)."""
    if dialect == "postgresql":
        tsquery = _tsquery(words)
        score = sa.func.ts_rank(vector, tsquery)
        return sa.select(*columns, score).where(vector.op("@@")(tsquery)), score.desc()
    matches = _fts(fts, words, key=key)
    return sa.select(*columns, -matches.c.score).join(matches, matches.c.found == record), matches.c.score


def _tsquery(words: tuple[str, ...]) -> sa.ColumnElement:
    """Every word as a prefix, ANDed (servicekit's term query); the words go in as one bound parameter."""
    return sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), term_query(words, "postgresql"))


def _fts(statement: str, words: tuple[str, ...], *, key: sa.types.TypeEngine) -> sa.Subquery:
    """An FTS5 match as a subquery (key, score): servicekit's term query (each word a quoted phrase with a prefix
    star, ANDed; a word holds letters and digits only, so nothing in it is FTS5 syntax), a bound parameter."""
    match = term_query(words, "sqlite")
    return sa.text(statement).bindparams(match=match).columns(found=key, score=sa.Float()).subquery("matches")
