"""Knowledge base pages (SPEC T9): /kb lists and searches the published articles, /kb/{id} shows one; both need
Knowledge Base - View. Everything is server-rendered and complete without JavaScript. (The ticket charts, T11,
are ticket pages: web/tickets.py.)
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlencode

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.areas import navigation
from gateway.clients import Backends
from gateway.clients.knowledge import Article
from gateway.edge.errors import NOT_FOUND
from gateway.web.deps import PortalPage
from gateway.web.i18n import Translator
from gateway.web.render import Pages

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
QUERY_MAX = 200
EXCERPT = 220


def _pages(request: Request) -> Pages:
    return request.app.state.pages


def _backends(request: Request) -> Backends:
    return request.app.state.backends


class ArticleRow(NamedTuple):
    id: str
    title: str
    published: str
    excerpt: str


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rsplit(" ", 1)[0] + "…"


def paragraphs(body: str) -> list[str]:
    """Blank lines separate paragraphs; single newlines stay (the template keeps them with pre-wrap)."""
    return [p.strip("\n") for p in body.replace("\r\n", "\n").split("\n\n") if p.strip()]


def _row(t: Translator, a: Article) -> ArticleRow:
    return ArticleRow(a.id, a.title, t.date(a.published_at), _excerpt(a.body))


@router.get("/kb")
async def kb_list(request: Request, session: PortalPage) -> Response:
    pages = _pages(request)
    if not navigation.may_open(session.principal, "kb"):
        return pages.error(request, NOT_FOUND, session=session)
    t = pages.translator(request)
    query = " ".join(request.query_params.get("q", "").split())[:QUERY_MAX]
    cursor = request.query_params.get("cursor", "")[:512]
    kb = _backends(request).knowledge
    try:
        page = await kb.list_articles(session.principal_token, query=query, page_size=PAGE_SIZE, cursor=cursor)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        # A stale or edited cursor: start again from the first page rather than fail.
        page = await kb.list_articles(session.principal_token, query=query, page_size=PAGE_SIZE)
        cursor = ""
    base = [("q", query)] if query else []
    return pages.render(
        request,
        "knowledge/list.html",
        {
            "rows": [_row(t, a) for a in page.items],
            "query": query,
            "next_href": "/kb?" + urlencode([*base, ("cursor", page.next_cursor)]) if page.next_cursor else "",
            "first_href": ("/kb?" + urlencode(base) if base else "/kb") if cursor else "",
        },
        session=session,
    )


@router.get("/kb/{article_id}")
async def kb_article(request: Request, session: PortalPage, article_id: str) -> Response:
    pages = _pages(request)
    if not navigation.may_open(session.principal, "kb"):
        return pages.error(request, NOT_FOUND, session=session)
    try:
        article = await _backends(request).knowledge.get_article(session.principal_token, article_id[:64])
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            return pages.error(request, NOT_FOUND, session=session)
        raise
    t = pages.translator(request)
    return pages.render(
        request,
        "knowledge/article.html",
        {
            "article": article,
            "published": t.date(article.published_at),
            "updated": t.date(article.updated_at),
            "paragraphs": paragraphs(article.body),
        },
        session=session,
    )
