"""Remote sessions and X1 access requests end to end: the real assets servicer, a replica with its agents'
server, nats-server, and the test agent answering the terminal commands (it echoes input upper-cased)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import select, update

from portal.identity.v1 import events_pb2 as identity_events_pb2
from portal.remote.v1 import agent_pb2, events_pb2, remote_pb2
from portal_testkit.services import Principals
from remote.access_requests.models import AccessRequest
from remote.events.handlers import on_customer_updated
from remote.events.publish import ACCESS_REQUESTED
from remote.sessions.models import RemoteSession
from servicekit.db import utcnow
from servicekit.outbox_tables import outbox
from servicekit.permissions import ASSETS_VIEW_ALL

A, B = "cust-a", "cust-b"
STAFF = Principals.staff(display_name="Sam Staff")
PORTAL_A = Principals.portal(A, "ctc-a", permissions={ASSETS_VIEW_ALL}, display_name="Ann")
PORTAL_B = Principals.portal(B, "ctc-b", permissions={ASSETS_VIEW_ALL})


async def terminal_agent(agent, command) -> None:  # noqa: ANN001
    action = command.WhichOneof("action")
    if action == "open_terminal":
        sid = command.open_terminal.session_id
        await agent.send(agent_pb2.ConnectRequest(terminal_opened=agent_pb2.TerminalOpened(session_id=sid)))
    elif action == "terminal_input":
        out = agent_pb2.TerminalOutput(
            session_id=command.terminal_input.session_id, data=command.terminal_input.data.upper()
        )
        await agent.send(agent_pb2.ConnectRequest(terminal_output=out))
    elif action == "close_terminal":
        closed = agent_pb2.TerminalClosed(session_id=command.close_terminal.session_id, reason="closed")
        await agent.send(agent_pb2.ConnectRequest(terminal_closed=closed))


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def online(replica, assets, keys, make_agent, customer: str = A):  # noqa: ANN001, ANN201
    asset_id = await assets.asset(customer)
    token = (
        await replica.stub.CreateEnrolmentToken(
            remote_pb2.CreateEnrolmentTokenRequest(asset_id=asset_id), metadata=keys.metadata(STAFF)
        )
    ).token
    agent = make_agent(replica)
    await agent.enrol(token)
    agent.on_command = terminal_agent
    await agent.connect()
    asyncio.create_task(agent.serve())  # noqa: RUF006 - closed with the agent
    return agent, asset_id


async def session_row(db, session_id: str, *, ended: bool = True, seconds: float = 5.0) -> RemoteSession:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while True:
        async with db.unit_of_work() as s:
            rs = await s.get(RemoteSession, session_id)
        if rs.ended_at is not None or not ended or time.monotonic() > deadline:
            return rs
        await asyncio.sleep(0.05)


async def test_an_access_request_says_whose_device_it_is(replica, assets, keys, sqlite_db) -> None:  # noqa: ANN001
    """identity emails a request to a View Mine user only when the device is its own contact's
    (identity/mail/recipients.py): the event names the device's contact, "" for a device assigned to nobody."""
    assigned = await assets.asset(A, "Dora's laptop", contact_id="ctc-dora")
    unassigned = await assets.asset(A, "Shared printer")
    for asset_id in (assigned, unassigned):
        ask = remote_pb2.RequestRemoteAccessRequest(asset_id=asset_id, ticket_id="t-1", window_minutes=5, reason="x")
        await replica.stub.RequestRemoteAccess(ask, metadata=keys.metadata(STAFF))
    async with sqlite_db.unit_of_work() as s:
        rows = (await s.execute(select(outbox.c.payload).where(outbox.c.subject == ACCESS_REQUESTED))).all()
    found = {e.asset_id: e for e in (events_pb2.AccessRequested.FromString(r.payload) for r in rows)}
    assert (found[assigned].asset_contact_id, found[assigned].asset_name) == ("ctc-dora", "Dora's laptop")
    assert (found[unassigned].asset_contact_id, found[unassigned].meta.customer_id) == ("", A)


async def test_staff_need_an_approved_open_window_and_the_terminal_relays_both_ways(
    replica, assets, keys, make_agent, sqlite_db
):
    agent, asset_id = await online(replica, assets, keys, make_agent)
    staff = keys.metadata(STAFF)
    no_request = remote_pb2.OpenRemoteSessionRequest(asset_id=asset_id)
    assert (await rpc_error(replica.stub.OpenRemoteSession(no_request, metadata=staff))).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )

    ask = remote_pb2.RequestRemoteAccessRequest(asset_id=asset_id, ticket_id="t-9", window_minutes=5, reason="printer")
    req = (await replica.stub.RequestRemoteAccess(ask, metadata=staff)).request
    assert (req.status, req.customer_id, req.requested_by) == ("pending", A, "Sam Staff")
    open_req = remote_pb2.OpenRemoteSessionRequest(asset_id=asset_id, access_request_id=req.id)
    pending = await rpc_error(replica.stub.OpenRemoteSession(open_req, metadata=staff))
    assert pending.code() == grpc.StatusCode.PERMISSION_DENIED and "pending" in pending.details()

    # Another customer's user cannot see it nor decide it; the customer's user can.
    listed_b = await replica.stub.ListAccessRequests(
        remote_pb2.ListAccessRequestsRequest(), metadata=keys.metadata(PORTAL_B)
    )
    assert list(listed_b.requests) == []
    decide = remote_pb2.DecideAccessRequestRequest(request_id=req.id, approve=True)
    assert (await rpc_error(replica.stub.DecideAccessRequest(decide, metadata=keys.metadata(PORTAL_B)))).code() == (
        grpc.StatusCode.NOT_FOUND
    )
    listed_a = await replica.stub.ListAccessRequests(
        remote_pb2.ListAccessRequestsRequest(), metadata=keys.metadata(PORTAL_A)
    )
    assert [(r.id, r.status) for r in listed_a.requests] == [(req.id, "pending")]
    approved = (await replica.stub.DecideAccessRequest(decide, metadata=keys.metadata(PORTAL_A))).request
    assert approved.status == "approved" and approved.decided_by == "Ann"
    assert (await rpc_error(replica.stub.DecideAccessRequest(decide, metadata=keys.metadata(PORTAL_A)))).code() == (
        grpc.StatusCode.FAILED_PRECONDITION
    )

    session = (await replica.stub.OpenRemoteSession(open_req, metadata=staff)).session
    assert (session.ticket_id, session.opened_by_kind, session.access_request_id) == ("t-9", "staff", req.id)
    assert session.ends_at.ToDatetime(tzinfo=UTC) <= approved.window_ends_at.ToDatetime(tzinfo=UTC)

    term = replica.stub.Terminal(metadata=staff)
    await term.write(remote_pb2.TerminalRequest(attach_session_id=session.id))
    await term.write(remote_pb2.TerminalRequest(input=b"ls -l\n"))
    first = await asyncio.wait_for(term.read(), 5)
    assert first.output == b"LS -L\n"
    # Only once: a second attach (even by the opener) is refused.
    second = replica.stub.Terminal(metadata=staff)
    await second.write(remote_pb2.TerminalRequest(attach_session_id=session.id))
    assert (await rpc_error(second.read())).code() == grpc.StatusCode.PERMISSION_DENIED
    await term.done_writing()
    last = await asyncio.wait_for(term.read(), 5)
    assert last.closed == "closed"
    rs = await session_row(sqlite_db, session.id)
    assert (rs.end_reason, rs.bytes_to_device, rs.bytes_from_device) == ("closed", 6, 6)
    assert any(c.WhichOneof("action") == "close_terminal" for c in agent.commands)

    # The window over: refused, and the request reads expired.
    async with sqlite_db.unit_of_work() as s:
        await s.execute(update(AccessRequest).values(window_ends_at=utcnow() - timedelta(seconds=1)))
    late = await rpc_error(replica.stub.OpenRemoteSession(open_req, metadata=staff))
    assert late.code() == grpc.StatusCode.PERMISSION_DENIED and "expired" in late.details()


async def test_portal_sessions_need_remote_access_enabled_and_end_at_their_limit(
    replica, assets, keys, make_agent, sqlite_db
):
    agent, asset_id = await online(replica, assets, keys, make_agent)
    _, other_asset = await online(replica, assets, keys, make_agent, customer=B)
    me = keys.metadata(PORTAL_A)
    req = remote_pb2.OpenRemoteSessionRequest(asset_id=asset_id)
    assert (
        await rpc_error(replica.stub.OpenRemoteSession(req, metadata=me))
    ).code() == grpc.StatusCode.PERMISSION_DENIED

    event = identity_events_pb2.CustomerUpdated(customer_id=A, remote_access_enabled=True)
    event.meta.occurred_at.FromDatetime(datetime.now(UTC))
    async with sqlite_db.unit_of_work() as s:
        await on_customer_updated(s, event, "evt-1")
    other = remote_pb2.OpenRemoteSessionRequest(asset_id=other_asset)
    assert (await rpc_error(replica.stub.OpenRemoteSession(other, metadata=me))).code() == grpc.StatusCode.NOT_FOUND
    session = (await replica.stub.OpenRemoteSession(req, metadata=me)).session
    assert session.opened_by_kind == "portal" and session.opened_by == "Ann"
    # Another user of the same customer may not attach it.
    colleague = Principals.portal(A, "ctc-2", permissions={ASSETS_VIEW_ALL})
    stranger = replica.stub.Terminal(metadata=keys.metadata(colleague))
    await stranger.write(remote_pb2.TerminalRequest(attach_session_id=session.id))
    assert (await rpc_error(stranger.read())).code() == grpc.StatusCode.NOT_FOUND

    async with sqlite_db.unit_of_work() as s:
        await s.execute(update(RemoteSession).values(ends_at=utcnow() + timedelta(seconds=1)))
    term = replica.stub.Terminal(metadata=me)
    await term.write(remote_pb2.TerminalRequest(attach_session_id=session.id))
    msg = await asyncio.wait_for(term.read(), 5)
    assert msg.closed == "limit"
    rs = await session_row(sqlite_db, session.id)
    assert rs.end_reason == "limit"
    listed = await replica.stub.ListRemoteSessions(remote_pb2.ListRemoteSessionsRequest(), metadata=me)
    assert [(s.id, s.end_reason) for s in listed.sessions] == [(session.id, "limit")]
    theirs = await replica.stub.ListRemoteSessions(
        remote_pb2.ListRemoteSessionsRequest(), metadata=keys.metadata(PORTAL_B)
    )
    assert list(theirs.sessions) == []


async def test_ending_a_session_and_losing_its_agent_close_the_terminal(replica, assets, keys, make_agent, sqlite_db):
    agent, asset_id = await online(replica, assets, keys, make_agent)
    event = identity_events_pb2.CustomerUpdated(customer_id=A, remote_access_enabled=True)
    event.meta.occurred_at.FromDatetime(datetime.now(UTC))
    async with sqlite_db.unit_of_work() as s:
        await on_customer_updated(s, event, "evt-2")
    me = keys.metadata(PORTAL_A)
    open_req = remote_pb2.OpenRemoteSessionRequest(asset_id=asset_id, minutes=5)

    first = (await replica.stub.OpenRemoteSession(open_req, metadata=me)).session
    term = replica.stub.Terminal(metadata=me)
    await term.write(remote_pb2.TerminalRequest(attach_session_id=first.id))
    await term.write(remote_pb2.TerminalRequest(input=b"x"))
    assert (await asyncio.wait_for(term.read(), 5)).output == b"X"
    ended = await replica.stub.EndRemoteSession(
        remote_pb2.EndRemoteSessionRequest(session_id=first.id), metadata=keys.metadata(STAFF)
    )
    assert ended.session.end_reason == "closed" and ended.session.bytes_to_device == 1
    assert (await asyncio.wait_for(term.read(), 5)).closed == "closed"

    # The browser goes away (the call is cancelled): the session ends "closed" and the device's terminal is closed.
    gone = (await replica.stub.OpenRemoteSession(open_req, metadata=me)).session
    term = replica.stub.Terminal(metadata=me)
    await term.write(remote_pb2.TerminalRequest(attach_session_id=gone.id))
    await term.write(remote_pb2.TerminalRequest(input=b"z"))
    assert (await asyncio.wait_for(term.read(), 5)).output == b"Z"
    term.cancel()
    assert (await session_row(sqlite_db, gone.id)).end_reason == "closed"
    closes = [c.close_terminal.session_id for c in agent.commands if c.WhichOneof("action") == "close_terminal"]
    assert gone.id in closes

    second = (await replica.stub.OpenRemoteSession(open_req, metadata=me)).session
    term = replica.stub.Terminal(metadata=me)
    await term.write(remote_pb2.TerminalRequest(attach_session_id=second.id))
    await term.write(remote_pb2.TerminalRequest(input=b"y"))
    assert (await asyncio.wait_for(term.read(), 5)).output == b"Y"
    agent.call.cancel()
    assert (await asyncio.wait_for(term.read(), 5)).closed == "agent_lost"
    rs = await session_row(sqlite_db, second.id)
    assert (rs.end_reason, rs.bytes_to_device, rs.bytes_from_device) == ("agent_lost", 1, 1)
    offline = await rpc_error(replica.stub.OpenRemoteSession(open_req, metadata=me))
    assert offline.code() == grpc.StatusCode.FAILED_PRECONDITION
