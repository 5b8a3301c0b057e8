"""KnowledgeService over gRPC: proto ⇄ domain and one unit of work per call; rules live in service.py and
announcements.py."""

from __future__ import annotations

from datetime import UTC

import grpc

from portal.common.v1 import common_pb2
from portal.tickets.v1 import knowledge_pb2, knowledge_pb2_grpc
from servicekit.db import Database
from servicekit.principal import current_principal
from servicekit.protos import timestamp
from tickets.knowledge import announcements, service
from tickets.knowledge.models import Announcement, Article

SERVICE_NAME = knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeService"].full_name

Ctx = grpc.aio.ServicerContext


class KnowledgeServicer(knowledge_pb2_grpc.KnowledgeServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_to_server(self, server: grpc.aio.Server) -> None:
        knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(self, server)

    async def CreateArticle(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.CreateArticleRequest, context: Ctx
    ) -> knowledge_pb2.CreateArticleResponse:
        async with self.db.unit_of_work() as s:
            a = await service.create_article(
                s, principal=current_principal(), title=request.title, body=request.body, published=request.published
            )
            out = article_to_proto(a)
        return knowledge_pb2.CreateArticleResponse(article=out)

    async def UpdateArticle(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.UpdateArticleRequest, context: Ctx
    ) -> knowledge_pb2.UpdateArticleResponse:
        async with self.db.unit_of_work() as s:
            a = await service.update_article(
                s, principal=current_principal(), article_id=request.article_id, title=request.title, body=request.body
            )
            out = article_to_proto(a)
        return knowledge_pb2.UpdateArticleResponse(article=out)

    async def PublishArticle(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.PublishArticleRequest, context: Ctx
    ) -> knowledge_pb2.PublishArticleResponse:
        async with self.db.unit_of_work() as s:
            a = await service.publish_article(
                s, principal=current_principal(), article_id=request.article_id, published=request.published
            )
            out = article_to_proto(a)
        return knowledge_pb2.PublishArticleResponse(article=out)

    async def DeleteArticle(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.DeleteArticleRequest, context: Ctx
    ) -> knowledge_pb2.DeleteArticleResponse:
        async with self.db.unit_of_work() as s:
            await service.delete_article(s, principal=current_principal(), article_id=request.article_id)
        return knowledge_pb2.DeleteArticleResponse()

    async def GetArticle(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.GetArticleRequest, context: Ctx
    ) -> knowledge_pb2.GetArticleResponse:
        async with self.db.unit_of_work() as s:
            a = await service.get_article(s, principal=current_principal(), article_id=request.article_id)
            out = article_to_proto(a)
        return knowledge_pb2.GetArticleResponse(article=out)

    async def ListArticles(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.ListArticlesRequest, context: Ctx
    ) -> knowledge_pb2.ListArticlesResponse:
        async with self.db.unit_of_work() as s:
            page = await service.list_articles(
                s,
                principal=current_principal(),
                query=request.query,
                page_size=request.page.page_size,
                cursor=request.page.cursor,
            )
            out = [article_to_proto(a) for a in page.articles]
        return knowledge_pb2.ListArticlesResponse(
            articles=out, page=common_pb2.PageResponse(next_cursor=page.next_cursor)
        )

    async def CreateAnnouncement(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.CreateAnnouncementRequest, context: Ctx
    ) -> knowledge_pb2.CreateAnnouncementResponse:
        async with self.db.unit_of_work() as s:
            a = await announcements.create_announcement(
                s, principal=current_principal(), fields=fields_from_proto(request.fields)
            )
            out = announcement_to_proto(a)
        return knowledge_pb2.CreateAnnouncementResponse(announcement=out)

    async def UpdateAnnouncement(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.UpdateAnnouncementRequest, context: Ctx
    ) -> knowledge_pb2.UpdateAnnouncementResponse:
        async with self.db.unit_of_work() as s:
            a = await announcements.update_announcement(
                s,
                principal=current_principal(),
                announcement_id=request.announcement_id,
                fields=fields_from_proto(request.fields),
            )
            out = announcement_to_proto(a)
        return knowledge_pb2.UpdateAnnouncementResponse(announcement=out)

    async def DeleteAnnouncement(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.DeleteAnnouncementRequest, context: Ctx
    ) -> knowledge_pb2.DeleteAnnouncementResponse:
        async with self.db.unit_of_work() as s:
            await announcements.delete_announcement(
                s, principal=current_principal(), announcement_id=request.announcement_id
            )
        return knowledge_pb2.DeleteAnnouncementResponse()

    async def ListAnnouncements(  # noqa: N802 - gRPC method name
        self, request: knowledge_pb2.ListAnnouncementsRequest, context: Ctx
    ) -> knowledge_pb2.ListAnnouncementsResponse:
        async with self.db.unit_of_work() as s:
            page = await announcements.list_announcements(
                s, principal=current_principal(), page_size=request.page.page_size, cursor=request.page.cursor
            )
            out = [announcement_to_proto(a) for a in page.announcements]
        return knowledge_pb2.ListAnnouncementsResponse(
            announcements=out, page=common_pb2.PageResponse(next_cursor=page.next_cursor)
        )

    async def ListCurrentAnnouncements(  # noqa: N802
        self, request: knowledge_pb2.ListCurrentAnnouncementsRequest, context: Ctx
    ) -> knowledge_pb2.ListCurrentAnnouncementsResponse:
        current_principal()  # any verified caller: announcements go to every portal user
        async with self.db.unit_of_work() as s:
            out = [announcement_to_proto(a) for a in await announcements.current_announcements(s)]
        return knowledge_pb2.ListCurrentAnnouncementsResponse(announcements=out)


def fields_from_proto(f: knowledge_pb2.AnnouncementFields) -> announcements.Fields:
    return announcements.Fields(
        title=f.title,
        body=f.body,
        starts_at=f.starts_at.ToDatetime(tzinfo=UTC) if f.HasField("starts_at") else None,
        ends_at=f.ends_at.ToDatetime(tzinfo=UTC) if f.HasField("ends_at") else None,
        active=f.active,
    )


def article_to_proto(a: Article) -> knowledge_pb2.Article:
    return knowledge_pb2.Article(
        id=a.id,
        title=a.title,
        body=a.body,
        published=a.published,
        published_at=timestamp(a.published_at) if a.published_at else None,
        created_at=timestamp(a.created_at),
        updated_at=timestamp(a.updated_at),
    )


def announcement_to_proto(a: Announcement) -> knowledge_pb2.Announcement:
    return knowledge_pb2.Announcement(
        id=a.id,
        title=a.title,
        body=a.body,
        starts_at=timestamp(a.starts_at) if a.starts_at else None,
        ends_at=timestamp(a.ends_at) if a.ends_at else None,
        active=a.active,
        created_at=timestamp(a.created_at),
        updated_at=timestamp(a.updated_at),
    )
