"""KnowledgeService (in the tickets service): knowledge-base articles and announcements; and the ticket charts, which
TicketsService serves on the same channel."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from gateway.clients._call import Caller
from gateway.clients.read_cache import cached
from gateway.clients.schemas import Page, opt_datetime
from portal.common.v1 import common_pb2
from portal.tickets.v1 import knowledge_pb2, knowledge_pb2_grpc, tickets_pb2, tickets_pb2_grpc


class Article(BaseModel):
    id: str
    title: str
    body: str = Field(description="Plain text; paragraphs are separated by blank lines")
    published: bool
    published_at: datetime | None = Field(None, description="When it was last published; null while never")
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_proto(cls, a: knowledge_pb2.Article) -> Article:
        return cls.model_construct(
            id=a.id,
            title=a.title,
            body=a.body,
            published=a.published,
            published_at=opt_datetime(a, "published_at"),
            created_at=opt_datetime(a, "created_at"),
            updated_at=opt_datetime(a, "updated_at"),
        )


class Announcement(BaseModel):
    id: str
    title: str
    body: str
    starts_at: datetime | None = Field(None, description="Shown from then; null: at once")
    ends_at: datetime | None = Field(None, description="Shown until then; null: until switched off")
    active: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_proto(cls, a: knowledge_pb2.Announcement) -> Announcement:
        return cls.model_construct(
            id=a.id,
            title=a.title,
            body=a.body,
            starts_at=opt_datetime(a, "starts_at"),
            ends_at=opt_datetime(a, "ends_at"),
            active=a.active,
            created_at=opt_datetime(a, "created_at"),
            updated_at=opt_datetime(a, "updated_at"),
        )

    def showing(self, now: datetime) -> bool:
        """Whether the portal shows it at `now`."""
        return (
            self.active
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
        )


class PriorityCount(BaseModel):
    priority: str = Field(description="'' for tickets without a priority")
    count: int


class PriorityResolution(BaseModel):
    priority: str
    count: int = Field(description="Resolved or closed tickets the mean is over")
    mean_hours: float


class TicketCharts(BaseModel):
    open_by_priority: list[PriorityCount]
    resolution_by_priority: list[PriorityResolution]


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


class KnowledgeClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self._stub = knowledge_pb2_grpc.KnowledgeServiceStub(channel)
        self._tickets = tickets_pb2_grpc.TicketsServiceStub(channel)
        self._call = Caller("tickets", timeout)

    @cached("tickets")
    async def list_articles(
        self, token: str, *, query: str = "", page_size: int = 0, cursor: str = ""
    ) -> Page[Article]:
        req = knowledge_pb2.ListArticlesRequest(
            query=query, page=common_pb2.PageRequest(page_size=page_size, cursor=cursor)
        )
        resp = await self._call(self._stub.ListArticles, req, token)
        return Page(items=[Article.from_proto(a) for a in resp.articles], next_cursor=resp.page.next_cursor or None)

    async def get_article(self, token: str, article_id: str) -> Article:
        req = knowledge_pb2.GetArticleRequest(article_id=article_id)
        return Article.from_proto((await self._call(self._stub.GetArticle, req, token)).article)

    async def create_article(self, token: str, *, title: str, body: str, published: bool) -> Article:
        req = knowledge_pb2.CreateArticleRequest(title=title, body=body, published=published)
        return Article.from_proto((await self._call(self._stub.CreateArticle, req, token)).article)

    async def update_article(self, token: str, article_id: str, *, title: str = "", body: str = "") -> Article:
        req = knowledge_pb2.UpdateArticleRequest(article_id=article_id, title=title, body=body)
        return Article.from_proto((await self._call(self._stub.UpdateArticle, req, token)).article)

    async def publish_article(self, token: str, article_id: str, *, published: bool) -> Article:
        req = knowledge_pb2.PublishArticleRequest(article_id=article_id, published=published)
        return Article.from_proto((await self._call(self._stub.PublishArticle, req, token)).article)

    async def delete_article(self, token: str, article_id: str) -> None:
        await self._call(self._stub.DeleteArticle, knowledge_pb2.DeleteArticleRequest(article_id=article_id), token)

    async def create_announcement(self, token: str, **fields: object) -> Announcement:
        req = knowledge_pb2.CreateAnnouncementRequest(fields=_fields(**fields))
        return Announcement.from_proto((await self._call(self._stub.CreateAnnouncement, req, token)).announcement)

    async def update_announcement(self, token: str, announcement_id: str, **fields: object) -> Announcement:
        req = knowledge_pb2.UpdateAnnouncementRequest(announcement_id=announcement_id, fields=_fields(**fields))
        return Announcement.from_proto((await self._call(self._stub.UpdateAnnouncement, req, token)).announcement)

    async def delete_announcement(self, token: str, announcement_id: str) -> None:
        req = knowledge_pb2.DeleteAnnouncementRequest(announcement_id=announcement_id)
        await self._call(self._stub.DeleteAnnouncement, req, token)

    async def list_announcements(self, token: str, *, page_size: int = 0, cursor: str = "") -> Page[Announcement]:
        req = knowledge_pb2.ListAnnouncementsRequest(page=common_pb2.PageRequest(page_size=page_size, cursor=cursor))
        resp = await self._call(self._stub.ListAnnouncements, req, token)
        return Page(
            items=[Announcement.from_proto(a) for a in resp.announcements], next_cursor=resp.page.next_cursor or None
        )

    @cached("tickets")
    async def current_announcements(self, token: str, *, deadline: float | None = None) -> list[Announcement]:
        req = knowledge_pb2.ListCurrentAnnouncementsRequest()
        resp = await self._call(self._stub.ListCurrentAnnouncements, req, token, deadline=deadline)
        return [Announcement.from_proto(a) for a in resp.announcements]

    @cached("tickets")
    async def ticket_charts(self, token: str) -> TicketCharts:
        resp = await self._call(self._tickets.GetTicketCharts, tickets_pb2.GetTicketChartsRequest(), token)
        return TicketCharts.model_construct(
            open_by_priority=[
                PriorityCount.model_construct(priority=p.priority, count=p.count) for p in resp.open_by_priority
            ],
            resolution_by_priority=[
                PriorityResolution.model_construct(priority=r.priority, count=r.count, mean_hours=r.mean_hours)
                for r in resp.resolution_by_priority
            ],
        )


def _fields(
    *, title: str, body: str, starts_at: datetime | None = None, ends_at: datetime | None = None, active: bool = True
) -> knowledge_pb2.AnnouncementFields:
    return knowledge_pb2.AnnouncementFields(
        title=title, body=body, starts_at=_ts(starts_at), ends_at=_ts(ends_at), active=active
    )
