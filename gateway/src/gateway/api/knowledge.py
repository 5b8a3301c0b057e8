"""Knowledge base and announcements in the JSON API (SPEC T9, T10).

`GET /api/v1/kb/articles` (published articles, or full-text matches with `q`) and `…/{id}` need Knowledge Base -
View; `GET /api/v1/announcements` is for every signed-in user (from the gateway's cache). Staff write articles
and announcements in api/staff/knowledge.py; ticket charts are in api/tickets.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from gateway.api.deps import Clients, CurrentSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.clients.knowledge import Announcement, Article

router = APIRouter(prefix="/api/v1", responses=problems(400, 401, 503))

Id = Annotated[str, Path(min_length=1, max_length=64)]


class ArticlePage(BaseModel):
    items: list[Article]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class AnnouncementPage(BaseModel):
    items: list[Announcement]
    next_cursor: str | None = None


# Portal.


@router.get("/kb/articles", tags=["knowledge base"], responses=problems(403))
async def list_articles(
    session: CurrentSession,
    backends: Clients,
    q: Annotated[str, Query(max_length=200, description="Words to find in the title or text (word prefixes)")] = "",
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ArticlePage:
    """Published articles, newest first; with `q`, the ones matching every word, best first."""
    page = await backends.knowledge.list_articles(session.principal_token, query=q, page_size=page_size, cursor=cursor)
    return ArticlePage(items=page.items, next_cursor=page.next_cursor)


@router.get("/kb/articles/{article_id}", tags=["knowledge base"], responses=problems(403, 404))
async def get_article(session: CurrentSession, backends: Clients, article_id: Id) -> Article:
    """One published article; an unpublished or unknown one is 404."""
    return await backends.knowledge.get_article(session.principal_token, article_id)


@router.get("/announcements", tags=["announcements"])
async def current_announcements(request: Request, session: CurrentSession) -> list[Announcement]:
    """The announcements the portal home shows now (refreshed from the tickets service at most every ~10 s)."""
    return await request.app.state.announcements.current(session.principal_token)
