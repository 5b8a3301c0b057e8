"""Staff knowledge base and announcements in the JSON API (SPEC T9, T10): write, publish and unpublish articles,
and manage announcements, with a staff session's bearer token. The tickets service enforces the same rules itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.api.deps import Clients, StaffApiSession
from gateway.api.docs import CURSOR_PATTERN, problems
from gateway.api.knowledge import AnnouncementPage, ArticlePage, Id
from gateway.clients.knowledge import Announcement, Article

router = APIRouter(prefix="/api/v1/staff", responses=problems(400, 401, 503))

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


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


_STAFF = {"tags": ["staff: knowledge base"], "responses": problems(403, 404)}


@router.get("/kb/articles", **_STAFF)
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


@router.post("/kb/articles", status_code=status.HTTP_201_CREATED, **_STAFF)
async def staff_create_article(
    body: NewArticle, session: StaffApiSession, backends: Clients, response: Response
) -> Article:
    """A new article; unpublished unless `published` is true."""
    article = await backends.knowledge.create_article(
        session.principal_token, title=body.title, body=body.body, published=body.published
    )
    response.headers["Location"] = f"/api/v1/staff/kb/articles/{article.id}"
    return article


@router.get("/kb/articles/{article_id}", **_STAFF)
async def staff_get_article(article_id: Id, session: StaffApiSession, backends: Clients) -> Article:
    return await backends.knowledge.get_article(session.principal_token, article_id)


@router.patch("/kb/articles/{article_id}", **_STAFF)
async def staff_edit_article(article_id: Id, body: ArticleEdit, session: StaffApiSession, backends: Clients) -> Article:
    """A new title and/or text (empty fields stay as they are)."""
    return await backends.knowledge.update_article(
        session.principal_token, article_id, title=body.title, body=body.body
    )


@router.put("/kb/articles/{article_id}/published", **_STAFF)
async def staff_publish_article(
    article_id: Id, body: Publication, session: StaffApiSession, backends: Clients
) -> Article:
    """Publish (portal users see and find it) or unpublish (hidden again, kept)."""
    return await backends.knowledge.publish_article(session.principal_token, article_id, published=body.published)


@router.delete("/kb/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT, **_STAFF)
async def staff_delete_article(article_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    await backends.knowledge.delete_article(session.principal_token, article_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_ANN = {"tags": ["staff: announcements"], "responses": problems(403, 404)}


@router.get("/announcements", **_ANN)
async def staff_list_announcements(
    session: StaffApiSession,
    backends: Clients,
    cursor: Annotated[str, Query(max_length=512, pattern=CURSOR_PATTERN)] = "",
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> AnnouncementPage:
    """Every announcement, newest first."""
    page = await backends.knowledge.list_announcements(session.principal_token, page_size=page_size, cursor=cursor)
    return AnnouncementPage(items=page.items, next_cursor=page.next_cursor)


@router.post("/announcements", status_code=status.HTTP_201_CREATED, **_ANN)
async def staff_create_announcement(
    body: AnnouncementBody, session: StaffApiSession, backends: Clients, response: Response
) -> Announcement:
    """A new announcement; the portal home shows it while active and between its start and end."""
    item = await backends.knowledge.create_announcement(session.principal_token, **body.model_dump())
    response.headers["Location"] = f"/api/v1/staff/announcements/{item.id}"
    return item


@router.put("/announcements/{announcement_id}", **_ANN)
async def staff_update_announcement(
    announcement_id: Id, body: AnnouncementBody, session: StaffApiSession, backends: Clients
) -> Announcement:
    """Replace every field."""
    return await backends.knowledge.update_announcement(session.principal_token, announcement_id, **body.model_dump())


@router.delete("/announcements/{announcement_id}", status_code=status.HTTP_204_NO_CONTENT, **_ANN)
async def staff_delete_announcement(announcement_id: Id, session: StaffApiSession, backends: Clients) -> Response:
    await backends.knowledge.delete_announcement(session.principal_token, announcement_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
