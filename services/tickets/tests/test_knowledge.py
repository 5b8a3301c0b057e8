"""Knowledge base, announcements and ticket charts (SPEC T9–T11) on SQLite and PostgreSQL: full-text search
over published articles only, ranking, unpublish, permissions, keyset pages, current announcements, and the
charts' figures within the principal's scope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from portal.tickets.v1 import knowledge_pb2, knowledge_pb2_grpc, tickets_pb2
from servicekit.db import Database
from servicekit.errors import InvalidArgument, NotFound, PermissionDenied
from servicekit.permissions import KNOWLEDGE_BASE_VIEW, TICKETS_VIEW_ALL, TICKETS_VIEW_MINE
from tickets.knowledge import announcements, service
from tickets.knowledge.announcements import Fields
from tickets.tickets import charts
from tickets.tickets.models import Ticket

KB = {KNOWLEDGE_BASE_VIEW}


async def article(db: Database, staff, title: str, body: str, *, published: bool = True):  # noqa: ANN001, ANN201
    async with db.unit_of_work() as s:
        return await service.create_article(s, principal=staff, title=title, body=body, published=published)


async def titles(db: Database, principal, query: str = "", **kw) -> list[str]:  # noqa: ANN001
    async with db.unit_of_work() as s:
        page = await service.list_articles(s, principal=principal, query=query, **kw)
    return [a.title for a in page.articles]


async def test_search_finds_published_articles_only_best_first(db, principals) -> None:  # noqa: ANN001
    staff, user = principals.staff(), principals.portal("cust-a", permissions=KB)
    await article(db, staff, "Resetting your printer", "Hold the power button for ten seconds.")
    await article(db, staff, "VPN on a laptop", "If the printer at home is not found, the VPN blocks it.")
    await article(db, staff, "Printer drivers (draft)", "Not ready.", published=False)
    await article(db, staff, "Email on a phone", "Add the account in settings.")

    # The title match ranks above the body match; the unpublished one is never in a portal search.
    assert await titles(db, user, "printer") == ["Resetting your printer", "VPN on a laptop"]
    # Every word must match, as a word prefix, case-insensitively.
    assert await titles(db, user, "PRINT power") == ["Resetting your printer"]
    assert await titles(db, user, "printer phone") == []
    # Punctuation is never query syntax.
    assert await titles(db, user, 'printer" * ((') == ["Resetting your printer", "VPN on a laptop"]
    assert await titles(db, user, '"(*)') == await titles(db, user)
    # Staff search their drafts too.
    assert "Printer drivers (draft)" in await titles(db, staff, "printer")
    # Without a query: published articles, newest published first.
    assert await titles(db, user) == ["Email on a phone", "VPN on a laptop", "Resetting your printer"]


async def test_unpublish_hides_and_edits_reindex(db, principals) -> None:  # noqa: ANN001
    staff, user = principals.staff(), principals.portal("cust-a", permissions=KB)
    a = await article(db, staff, "Wi-Fi password", "Ask the office manager.")
    assert await titles(db, user, "wifi") == []  # "Wi-Fi" is two words: wi and fi
    assert await titles(db, user, "wi fi") == ["Wi-Fi password"]

    async with db.unit_of_work() as s:
        await service.publish_article(s, principal=staff, article_id=a.id, published=False)
    assert await titles(db, user, "password") == []
    assert await titles(db, user) == []
    async with db.unit_of_work() as s:
        with pytest.raises(NotFound):
            await service.get_article(s, principal=user, article_id=a.id)
        assert (await service.get_article(s, principal=staff, article_id=a.id)).title == "Wi-Fi password"

    async with db.unit_of_work() as s:
        await service.update_article(s, principal=staff, article_id=a.id, title="Guest network")
        await service.publish_article(s, principal=staff, article_id=a.id, published=True)
    assert await titles(db, user, "guest") == ["Guest network"]
    assert await titles(db, user, "wi fi") == []  # the old title left the index
    assert await titles(db, user, "manager") == ["Guest network"]

    async with db.unit_of_work() as s:
        await service.delete_article(s, principal=staff, article_id=a.id)
    assert await titles(db, user, "guest") == []


async def test_permissions(db, principals) -> None:  # noqa: ANN001
    staff = principals.staff()
    user = principals.portal("cust-a", permissions=KB)
    without = principals.portal("cust-a", permissions={TICKETS_VIEW_ALL})
    a = await article(db, staff, "Backups", "Nightly.")
    async with db.unit_of_work() as s:
        with pytest.raises(PermissionDenied):
            await service.list_articles(s, principal=without)
        with pytest.raises(PermissionDenied):
            await service.get_article(s, principal=without, article_id=a.id)
        with pytest.raises(PermissionDenied):
            await service.create_article(s, principal=user, title="Mine", body="x")
        with pytest.raises(PermissionDenied):
            await service.publish_article(s, principal=user, article_id=a.id, published=False)
        with pytest.raises(PermissionDenied):
            await announcements.create_announcement(s, principal=user, fields=Fields("t", "b", None, None, True))
        with pytest.raises(NotFound):
            await service.get_article(s, principal=user, article_id=str(uuid.uuid4()))
        with pytest.raises(InvalidArgument):
            await service.get_article(s, principal=user, article_id="../etc")
        with pytest.raises(InvalidArgument):
            await service.create_article(s, principal=staff, title="  ", body="x")
        with pytest.raises(InvalidArgument):
            await service.list_articles(s, principal=user, query="x" * 201)


async def test_pages(db, principals) -> None:  # noqa: ANN001
    staff, user = principals.staff(), principals.portal("cust-a", permissions=KB)
    for i in range(5):
        await article(db, staff, f"Guide {i}", f"Step {i} of the setup guide.")
    seen: list[str] = []
    cursor = ""
    while True:
        async with db.unit_of_work() as s:
            page = await service.list_articles(s, principal=user, page_size=2, cursor=cursor)
        seen += [a.title for a in page.articles]
        if not (cursor := page.next_cursor):
            break
    assert seen == [f"Guide {i}" for i in reversed(range(5))]

    found: list[str] = []
    cursor = ""
    while True:
        async with db.unit_of_work() as s:
            page = await service.list_articles(s, principal=user, query="setup", page_size=2, cursor=cursor)
        found += [a.title for a in page.articles]
        if not (cursor := page.next_cursor):
            break
    assert sorted(found) == [f"Guide {i}" for i in range(5)]
    async with db.unit_of_work() as s:
        with pytest.raises(InvalidArgument):  # a list cursor is no search cursor
            first = await service.list_articles(s, principal=user, page_size=2)
            await service.list_articles(s, principal=user, query="setup", cursor=first.next_cursor)


async def test_current_announcements(db, principals) -> None:  # noqa: ANN001
    staff = principals.staff()
    now = datetime.now(UTC)

    async def make(title: str, **kw) -> None:  # noqa: ANN003
        f = Fields(title, "Body", kw.get("starts_at"), kw.get("ends_at"), kw.get("active", True))
        async with db.unit_of_work() as s:
            await announcements.create_announcement(s, principal=staff, fields=f)

    await make("Always")
    await make("Ended", ends_at=now - timedelta(minutes=1))
    await make("Switched off", active=False)
    await make("Tomorrow", starts_at=now + timedelta(days=1))
    await make("This week", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=6))
    async with db.unit_of_work() as s:
        current = await announcements.current_announcements(s)
        with pytest.raises(InvalidArgument):
            await announcements.create_announcement(
                s, principal=staff, fields=Fields("Bad", "x", now, now - timedelta(hours=1), True)
            )
    assert {a.title for a in current} == {"Always", "Tomorrow", "This week"}
    assert {a.title for a in current if announcements.is_showing(a, now)} == {"Always", "This week"}
    assert {a.title for a in current if announcements.is_showing(a, now + timedelta(days=2))} == {
        "Always",
        "Tomorrow",
        "This week",
    }


async def test_charts_within_the_principals_scope(db, principals) -> None:  # noqa: ANN001
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def ticket(customer: str, contact: str, priority: str, hours_to_close: float | None) -> Ticket:
        n = ticket.counter = getattr(ticket, "counter", 0) + 1  # type: ignore[attr-defined]
        closed = t0 + timedelta(hours=hours_to_close) if hours_to_close is not None else None
        return Ticket(
            id=str(uuid.uuid4()),
            number=n,
            customer_id=customer,
            contact_id=contact,
            subject=f"t{n}",
            description="d",
            status="Closed" if closed else "New",
            priority=priority,
            issue_type="General",
            created_by="x",
            created_at=t0,
            updated_at=closed or t0,
            closed_at=closed,
        )

    async with db.unit_of_work() as s:
        s.add_all(
            [
                ticket("cust-a", "ann", "High", None),
                ticket("cust-a", "ann", "High", None),
                ticket("cust-a", "bob", "Low", None),
                ticket("cust-a", "ann", "Urgent", 2),
                ticket("cust-a", "bob", "Urgent", 4),
                ticket("cust-a", "ann", "Low", 48),
                ticket("cust-b", "zed", "Normal", None),
                ticket("cust-b", "zed", "Normal", 1),
            ]
        )
    everyone = principals.portal("cust-a", "ann", permissions={TICKETS_VIEW_ALL})
    mine = principals.portal("cust-a", "ann", permissions={TICKETS_VIEW_MINE})
    async with db.unit_of_work() as s:
        c = await charts.ticket_charts(s, principal=everyone)
        m = await charts.ticket_charts(s, principal=mine)
        staff = await charts.ticket_charts(s, principal=principals.staff())
        with pytest.raises(PermissionDenied):
            await charts.ticket_charts(s, principal=principals.portal("cust-a", permissions=KB))
    assert c.open_by_priority == [("Low", 1), ("High", 2)]
    assert [(r.priority, r.count, round(r.mean_hours, 3)) for r in c.resolution_by_priority] == [
        ("Low", 1, 48.0),
        ("Urgent", 2, 3.0),
    ]
    assert m.open_by_priority == [("High", 2)]
    assert [(r.priority, r.count, round(r.mean_hours, 3)) for r in m.resolution_by_priority] == [
        ("Low", 1, 48.0),
        ("Urgent", 1, 2.0),
    ]
    assert dict(staff.open_by_priority) == {"Low": 1, "Normal": 1, "High": 2}


async def test_over_grpc(served, principals) -> None:  # noqa: ANN001
    stub = knowledge_pb2_grpc.KnowledgeServiceStub(served.channel)
    staff = served.keys.metadata(principals.staff())
    user = served.keys.metadata(principals.portal("cust-a", permissions=KB))
    created = await stub.CreateArticle(
        knowledge_pb2.CreateArticleRequest(title="Printer jams", body="Open tray 2."), metadata=staff
    )
    art = created.article
    assert not art.published and not art.HasField("published_at")
    listed = await stub.ListArticles(knowledge_pb2.ListArticlesRequest(query="tray"), metadata=user)
    assert list(listed.articles) == []
    await stub.PublishArticle(knowledge_pb2.PublishArticleRequest(article_id=art.id, published=True), metadata=staff)
    listed = await stub.ListArticles(knowledge_pb2.ListArticlesRequest(query="tray"), metadata=user)
    assert [a.title for a in listed.articles] == ["Printer jams"]
    got = await stub.GetArticle(knowledge_pb2.GetArticleRequest(article_id=art.id), metadata=user)
    assert got.article.body == "Open tray 2." and got.article.HasField("published_at")

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateArticle(knowledge_pb2.CreateArticleRequest(title="x", body="y"), metadata=user)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListCurrentAnnouncements(knowledge_pb2.ListCurrentAnnouncementsRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    fields = knowledge_pb2.AnnouncementFields(title="Maintenance", body="Saturday 8–10", active=True)
    made = await stub.CreateAnnouncement(knowledge_pb2.CreateAnnouncementRequest(fields=fields), metadata=staff)
    current = await stub.ListCurrentAnnouncements(knowledge_pb2.ListCurrentAnnouncementsRequest(), metadata=user)
    assert [a.title for a in current.announcements] == ["Maintenance"]
    fields.active = False
    await stub.UpdateAnnouncement(
        knowledge_pb2.UpdateAnnouncementRequest(announcement_id=made.announcement.id, fields=fields), metadata=staff
    )
    current = await stub.ListCurrentAnnouncements(knowledge_pb2.ListCurrentAnnouncementsRequest(), metadata=user)
    assert list(current.announcements) == []
    every = await stub.ListAnnouncements(knowledge_pb2.ListAnnouncementsRequest(), metadata=staff)
    assert [a.active for a in every.announcements] == [False]

    # The charts are the TicketsService's, on the same server.
    charts_resp = await served.stub.GetTicketCharts(tickets_pb2.GetTicketChartsRequest(), metadata=staff)
    assert list(charts_resp.open_by_priority) == []
