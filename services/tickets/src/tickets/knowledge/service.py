"""Knowledge-base rules (SPEC T9): staff write, publish and unpublish articles; portal users with Knowledge
Base - View read and search the published ones.

Search is full-text on both databases: SQLite's FTS5 table `kb_articles_fts` (ranked by bm25, the title
weighing ten times the body) and PostgreSQL's `search_vector` (ts_rank, title weight A, body B). Every word
of the query must match the start of a word of the title or body ("print" finds "printer").

Functions take the caller's session and never commit: the RPC's unit of work does.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import pagination
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from servicekit.permissions import KNOWLEDGE_BASE_VIEW
from servicekit.principal import Principal, require
from tickets.db import UtcDateTime
from tickets.knowledge.models import Article
from tickets.text import text_field

TITLE_MAX = 200
BODY_MAX = 50_000
QUERY_MAX = 200
QUERY_WORDS_MAX = 10
# Ranked results page by offset (a rank is no stable key); this bounds how deep one can page.
SEARCH_OFFSET_MAX = 1_000
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class ArticlePage:
    articles: list[Article]
    # Empty when this is the last page.
    next_cursor: str


def require_staff(principal: Principal) -> None:
    """Writing the knowledge base and announcements is staff work (SPEC S2)."""
    if not principal.is_staff:
        raise PermissionDenied("only staff manage the knowledge base and announcements")


async def create_article(
    session: AsyncSession, *, principal: Principal, title: str, body: str, published: bool = False
) -> Article:
    """A new article, published at once when asked."""
    require_staff(principal)
    now = datetime.now(UTC)
    article = Article(
        id=str(uuid.uuid4()),
        title=_title(title),
        body=_body(body),
        published=published,
        published_at=now if published else None,
        created_by=principal.subject_id,
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    await session.flush()
    return article


async def update_article(
    session: AsyncSession, *, principal: Principal, article_id: str, title: str = "", body: str = ""
) -> Article:
    """A new title and/or body ('' keeps the current one)."""
    require_staff(principal)
    article = await _article(session, article_id)
    if not title.strip() and not body.strip():
        raise InvalidArgument("give a new title or body", field="title")
    if title.strip():
        article.title = _title(title)
    if body.strip():
        article.body = _body(body)
    article.updated_at = datetime.now(UTC)
    await session.flush()
    return article


async def publish_article(session: AsyncSession, *, principal: Principal, article_id: str, published: bool) -> Article:
    """Publish (the portal lists it, newest first by this moment) or unpublish (hidden, kept)."""
    require_staff(principal)
    article = await _article(session, article_id)
    if article.published != published:
        now = datetime.now(UTC)
        article.published = published
        if published:
            article.published_at = now
        article.updated_at = now
        await session.flush()
    return article


async def delete_article(session: AsyncSession, *, principal: Principal, article_id: str) -> None:
    """Remove an article for good."""
    require_staff(principal)
    await session.delete(await _article(session, article_id))
    await session.flush()


async def get_article(session: AsyncSession, *, principal: Principal, article_id: str) -> Article:
    """One article: any for staff, a published one for portal users; anything else is not found."""
    require(principal, KNOWLEDGE_BASE_VIEW)
    article = await _article(session, article_id)
    if not principal.is_staff and not article.published:
        raise NotFound("article not found")
    return article


async def list_articles(
    session: AsyncSession, *, principal: Principal, query: str = "", page_size: int = 0, cursor: str = ""
) -> ArticlePage:
    """Published articles newest first (staff: all, last edited first), or full-text matches best first."""
    require(principal, KNOWLEDGE_BASE_VIEW)
    size = pagination.page_size(page_size)
    words = _words(query)
    if words:
        return await _search(session, principal=principal, words=words, size=size, cursor=cursor)
    staff = principal.is_staff
    key = Article.updated_at if staff else Article.published_at
    q = sa.select(Article)
    if not staff:
        q = q.where(Article.published.is_(True))
    mode = "edited" if staff else "published"
    after = pagination.keyset(cursor, mode)
    if after is not None:
        at, last_id = after
        bound = sa.tuple_(sa.literal(at, UtcDateTime()), sa.literal(last_id, sa.String()))
        q = q.where(sa.tuple_(key, Article.id) < bound)
    rows = list((await session.scalars(q.order_by(key.desc(), Article.id.desc()).limit(size + 1))).all())
    if len(rows) <= size:
        return ArticlePage(rows, "")
    rows = rows[:size]
    last = rows[-1]
    last_at = last.updated_at if staff else last.published_at
    assert last_at is not None  # published articles always have it
    return ArticlePage(rows, pagination.keyset_cursor(last_at, last.id, mode))


async def _search(
    session: AsyncSession, *, principal: Principal, words: list[str], size: int, cursor: str
) -> ArticlePage:
    offset = _offset_cursor(cursor)
    dialect = (await session.connection()).dialect.name
    if dialect == "postgresql":
        tsquery = sa.func.to_tsquery("simple", " & ".join(f"{w}:*" for w in words))
        vector = sa.literal_column("kb_articles.search_vector")
        score = sa.func.ts_rank(vector, tsquery)
        q = sa.select(Article).where(vector.op("@@")(tsquery)).order_by(score.desc(), Article.id)
    else:
        # A phrase per word (quoted: nothing in it is FTS5 syntax) with a prefix star; words are ANDed.
        match = " ".join(f'"{w}"*' for w in words)
        # bm25 weights per column: the id is not indexed, the title counts ten times the body.
        fts = (
            sa.text(
                "SELECT article_id, bm25(kb_articles_fts, 0.0, 10.0, 1.0) AS score "
                "FROM kb_articles_fts WHERE kb_articles_fts MATCH :match"
            )
            .bindparams(match=match)
            .columns(article_id=sa.String(), score=sa.Float())
            .subquery("matches")
        )
        # bm25 is lower for better matches.
        q = sa.select(Article).join(fts, fts.c.article_id == Article.id).order_by(fts.c.score, Article.id)
    if not principal.is_staff:
        q = q.where(Article.published.is_(True))
    rows = list((await session.scalars(q.offset(offset).limit(size + 1))).all())
    if len(rows) <= size or offset + size >= SEARCH_OFFSET_MAX:
        return ArticlePage(rows[:size], "")
    return ArticlePage(rows[:size], pagination.encode_cursor("search", offset + size, ""))


async def _article(session: AsyncSession, article_id: str) -> Article:
    try:
        canonical = str(uuid.UUID(article_id))
    except (ValueError, TypeError):
        raise InvalidArgument("must be an article id (a UUID)", field="article_id") from None
    article = await session.get(Article, canonical)
    if article is None:
        raise NotFound("article not found")
    return article


def _words(query: str) -> list[str]:
    if len(query) > QUERY_MAX:
        raise InvalidArgument(f"the search must be at most {QUERY_MAX} characters", field="query")
    if "\x00" in query:
        raise InvalidArgument("the search must not contain NUL characters", field="query")
    # Letters and digits only: punctuation is never query syntax for FTS5 or to_tsquery.
    return _WORD.findall(query.lower())[:QUERY_WORDS_MAX]


def _offset_cursor(cursor: str) -> int:
    values = pagination.decode_cursor(cursor, 3)
    if values is None:
        return 0
    mode, offset, _ = values
    if mode != "search" or not isinstance(offset, int) or not 0 < offset < SEARCH_OFFSET_MAX:
        raise _bad_cursor()
    return offset


def _bad_cursor() -> InvalidArgument:
    return InvalidArgument(
        "the cursor is malformed or from another list; start again from the first page", field="cursor"
    )


def _title(value: str) -> str:
    return text_field(value, field="title", label="title", limit=TITLE_MAX, one_line=True)


def _body(value: str) -> str:
    return text_field(value, field="body", label="body", limit=BODY_MAX, one_line=False)
