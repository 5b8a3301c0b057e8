"""Knowledge base, announcements and ticket charts in the JSON API (SPEC T9–T11).

Portal: `GET /api/v1/kb/articles` (published articles, or full-text matches with `q`) and `…/{id}` need
Knowledge Base - View; `GET /api/v1/announcements` is for every signed-in user (from the gateway's cache);
`GET /api/v1/tickets/charts` needs a ticket view permission and covers the tickets the user may see.
Staff (a staff session's bearer token, as for the rest of /api/v1/staff): write, publish and unpublish articles,
and manage announcements. The tickets service enforces the same rules itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.api.deps import Clients, CurrentSession, StaffApiSession
from gateway.api.routes import CURSOR_PATTERN, _problems
from gateway.clients.knowledge import Announcement, Article, TicketCharts

router = APIRouter(prefix="/api/v1", responses=_problems(400, 401, 503))

Id = Annotated[str, Path(min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ArticlePage(BaseModel):
    items: list[Article]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")


class AnnouncementPage(BaseModel):
    items: list[Announcement]
    next_cursor: str | None = None


class NewArticle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50_000)]
    published: bool = False


class ArticleEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    body: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50_000)] = ""


class Publication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    published: bool


class AnnouncementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5_000)]
    starts_at: datetime | None = Field(None, description="Shown from then (with a time zone); null: at once")
    ends_at: datetime | None = Field(None, description="Shown until then (with a time zone); null: no end")
    active: bool = True

    @model_validator(mode="after")
    def _zones(self) -> AnnouncementBody:
        for value in (self.starts_at, self.ends_at):
            if value is not None and value.tzinfo is None:
                raise ValueError("give dates with a time zone, e.g. 2026-12-24T08:00:00Z")
        return self


# Portal.


@router.get("/kb/articles", tags=["knowledge base"], responses=_problems(403))
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


@router.get("/kb/articles/{article_id}", tags=["knowledge base"], responses=_problems(403, 404))
async def get_article(session: CurrentSession, backends: Clients, article_id: Id) -> Article:
    """One published article; an unpublished or unknown one is 404."""
    return await backends.knowledge.get_article(session.principal_token, article_id)


@router.get("/announcements", tags=["announcements"])
async def current_announcements(request: Request, session: CurrentSession) -> list[Announcement]:
    """The announcements the portal home shows now (refreshed from the tickets service at most every ~10 s)."""
    return await request.app.state.announcements.current(session.principal_token)


@router.get("/tickets/charts", tags=["tickets"], responses=_problems(403))
async def ticket_charts(session: CurrentSession, backends: Clients) -> TicketCharts:
    """Open tickets by priority and the mean hours resolved tickets took, over the tickets the user may see."""
    return await backends.knowledge.ticket_charts(session.principal_token)


# Staff.

_STAFF = {"tags": ["staff: knowledge base"], "responses": _problems(403, 404)}


@router.get("/staff/kb/articles", **_STAFF)
async def staff_list_articles(
    session: StaffApiSession,
    backends: Clients,
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ArticlePage:
    """Every article, published or not: last edited first, or full-text matches with `q`."""
    page = await backends.knowledge.list_articles(session.principal_token, query=q, page_size=page_size, cursor=cursor)
    return ArticlePage(items=page.items, next_cursor=page.next_cursor)


@router.post("/staff/kb/articles", status_code=status.HTTP_201_CREATED, **_STAFF)
async def staff_create_article(
    body: NewArticle, session: StaffApiSession, backends: Clients, response: Response
) -> Article:
    """A new article; unpublished unless `published` is true."""
    article = await backends.knowledge.create_article(
        session.principal_token, title=body.title, body=body.body, published=body.published
    )
    response.headers["Location"] = f"/api/v1/staff/kb/articles/{article.id}"
    return article


@router.get("/staff/kb/articles/{article_id}", **_STAFF)
async def staff_get_article(article_id: Id, session: StaffApiSession, backends: Clients) -> Article:
    return await backends.knowledge.get_article(session.principal_token, article_id)


@router.patch("/staff/kb/articles/{article_id}", **_STAFF)
async def staff_edit_article(article_id: Id, body: ArticleEdit, session: StaffApiSession, backends: Clients) -> Article:
    """A new title and/or text (empty fields stay as they are)."""
    return await backends.knowledge.update_article(
        session.principal_token, article_id, title=body.title, body=body.body
    )


@router.put("/staff/kb/articles/{article_id}/published", **_STAFF)
async def staff_publish_article(
    article_id: Id, body: Publication, session: StaffApiSession, backends: Clients
) -> Article:
    """Publish (portal users see and find it) or unpublish (hidden again, kept)."""
    return await backends.knowledge.publish_article(session.principal_token, article_id, published=body.published)


@router.delete("/staff/kb/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT, **_STAFF)
async def staff_delete_article(article_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    await backends.knowledge.delete_article(session.principal_token, article_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_ANN = {"tags": ["staff: announcements"], "responses": _problems(403, 404)}


@router.get("/staff/announcements", **_ANN)
async def staff_list_announcements(
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> AnnouncementPage:
    """Every announcement, newest first."""
    page = await backends.knowledge.list_announcements(session.principal_token, page_size=page_size, cursor=cursor)
    return AnnouncementPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/staff/announcements", status_code=status.HTTP_201_CREATED, **_ANN)
async def staff_create_announcement(
    body: AnnouncementBody, session: StaffApiSession, backends: Clients, response: Response
) -> Announcement:
    """A new announcement; the portal home shows it while active and between its start and end."""
    item = await backends.knowledge.create_announcement(session.principal_token, **body.model_dump())
    response.headers["Location"] = f"/api/v1/staff/announcements/{item.id}"
    return item


@router.put("/staff/announcements/{announcement_id}", **_ANN)
async def staff_update_announcement(
    announcement_id: Id, body: AnnouncementBody, session: StaffApiSession, backends: Clients
) -> Announcement:
    """Replace every field."""
    return await backends.knowledge.update_announcement(session.principal_token, announcement_id, **body.model_dump())


@router.delete("/staff/announcements/{announcement_id}", status_code=status.HTTP_204_NO_CONTENT, **_ANN)
async def staff_delete_announcement(announcement_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    await backends.knowledge.delete_announcement(session.principal_token, announcement_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
