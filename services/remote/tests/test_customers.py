"""Identity's customer events keep each customer's remote-access setting (SPEC C3), newest change winning; a deleted
customer's setting and leftover enrolment tokens go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.identity.v1 import events_pb2
from remote.agents.models import EnrolmentToken
from remote.customers import service as customers
from remote.events.handlers import on_customer_created, on_customer_deleted, on_customer_updated

T = datetime(2026, 6, 1, 12, tzinfo=UTC)


def meta(event, at: datetime):  # noqa: ANN001, ANN201
    event.meta.occurred_at.FromDatetime(at)
    return event


async def enabled(db, customer_id: str = "c") -> bool:  # noqa: ANN001
    async with db.unit_of_work() as s:
        return await customers.remote_access_enabled(s, customer_id)


async def test_the_newest_setting_wins_and_a_delete_clears_it(db, seed):
    async with db.unit_of_work() as s:
        await on_customer_created(s, meta(events_pb2.CustomerCreated(customer_id="c"), T), "e1")
    assert not await enabled(db)
    async with db.unit_of_work() as s:
        await on_customer_updated(
            s,
            meta(events_pb2.CustomerUpdated(customer_id="c", remote_access_enabled=True), T + timedelta(minutes=2)),
            "e2",
        )
        # An older change delivered late changes nothing.
        await on_customer_updated(s, meta(events_pb2.CustomerUpdated(customer_id="c"), T + timedelta(minutes=1)), "e3")
    assert await enabled(db)
    await seed(
        EnrolmentToken(token_hash="h" * 64, asset_id="a", customer_id="c", created_by="s", created_at=T, expires_at=T)
    )
    async with db.unit_of_work() as s:
        await on_customer_deleted(s, meta(events_pb2.CustomerDeleted(customer_id="c"), T + timedelta(minutes=3)), "e4")
    assert not await enabled(db)
    async with db.unit_of_work() as s:
        assert (await s.execute(select(EnrolmentToken))).all() == []
