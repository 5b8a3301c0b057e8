"""The charts' SVG geometry and the announcements cache (refresh at most every REFRESH_SECONDS, beside the
page, keeping the old list when the backend fails)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from gateway.clients.knowledge import Announcement
from gateway.web import charts_svg
from gateway.web.announcements import AnnouncementCache
from gateway.web.knowledge import paragraphs


def test_pie_slices() -> None:
    pie = charts_svg.pie([("Low", 1), ("High", 3), ("Empty", 0)])
    assert [(s.label, s.count, s.percent) for s in pie.slices] == [("Low", 1, 25), ("High", 3, 75)]
    assert pie.total == 4 and len({s.colour for s in pie.slices}) == 2
    assert " A " in pie.slices[0].path and pie.slices[1].path.split(" A ")[1].split()[3] == "1"  # large arc
    lone = charts_svg.pie([("Normal", 5)]).slices[0]
    assert lone.percent == 100 and (lone.text_x, lone.text_y) == (120, 120)
    assert charts_svg.pie([]).slices == []


def test_line_scale() -> None:
    line = charts_svg.line([("Low", 7.0, "7.0"), ("Urgent", 2.0, "2.0")])
    assert [t.text for t in line.ticks] == ["0", "2", "4", "6", "8"]
    assert line.points[0].y < line.points[1].y  # higher value, higher on the page
    tiny = charts_svg.line([("Low", 0.000001, "0.0")], decimal=",")
    assert tiny.ticks[-1].text == "1" and tiny.ticks[1].text == "0,25"


def test_paragraphs() -> None:
    assert paragraphs("One\nstill one\n\n\nTwo\r\n\r\nThree") == ["One\nstill one", "Two", "Three"]


def _ann(title: str, **kw) -> Announcement:  # noqa: ANN003
    return Announcement.model_construct(
        id=title, title=title, body="b", starts_at=kw.get("starts_at"), ends_at=kw.get("ends_at"), active=True
    )


class FakeClient:
    def __init__(self) -> None:
        self.calls = 0
        self.items: list[Announcement] = []
        self.fail = False

    async def current_announcements(self, token: str, *, deadline: float | None = None) -> list[Announcement]:
        self.calls += 1
        if self.fail:
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata())
        return list(self.items)


async def test_cache_refreshes_beside_the_page_at_most_every_period() -> None:
    client = FakeClient()
    now = datetime.now(UTC)
    client.items = [_ann("Now"), _ann("Later", starts_at=now + timedelta(hours=1))]
    cache = AnnouncementCache(lambda: client, refresh_seconds=0.2)  # type: ignore[arg-type, return-value]
    assert cache.showing("tok") == []  # a cold cache answers at once and fills in the background
    await asyncio.sleep(0.01)
    assert [a.title for a in cache.showing("tok")] == ["Now"]
    assert [a.title for a in cache.showing("tok", now + timedelta(hours=2))] == ["Now", "Later"]
    for _ in range(20):
        cache.showing("tok")
    await asyncio.sleep(0.01)
    assert client.calls == 1

    client.fail = True
    await asyncio.sleep(0.25)
    cache.showing("tok")
    await asyncio.sleep(0.01)
    assert client.calls == 2 and [a.title for a in cache.showing("tok")] == ["Now"]  # the old list stays

    client.fail = False
    client.items = []
    await asyncio.sleep(0.25)
    assert [a.title for a in await cache.current("tok")] == []
    assert client.calls == 3


@pytest.mark.parametrize("token", [""])
async def test_no_refresh_without_a_token(token: str) -> None:
    client = FakeClient()
    cache = AnnouncementCache(lambda: client)  # type: ignore[arg-type, return-value]
    assert cache.showing(token) == []
    await asyncio.sleep(0.01)
    assert client.calls == 0


async def test_rendering_outside_the_event_loop_does_not_fail() -> None:
    client = FakeClient()
    cache = AnnouncementCache(lambda: client)  # type: ignore[arg-type, return-value]
    assert await asyncio.to_thread(cache.showing, "tok") == []
    assert client.calls == 0
