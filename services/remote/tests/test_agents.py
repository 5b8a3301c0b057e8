"""Agents end to end over real sockets: the real assets servicer, a remote replica (or two) as main.wire builds it
with its agents' server, a real nats-server, and a small agent written in conftest.py speaking AgentService."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from portal.remote.v1 import agent_pb2, agent_pb2_grpc, events_pb2, remote_pb2
from portal_testkit.services import Principals
from remote.agents import service as agent_service
from remote.agents.models import Agent, EnrolmentToken
from remote.events.publish import SCRIPT_RUN_FINISHED
from remote.main import MIGRATIONS_DIR
from remote.script_runs.models import ScriptRunOutput
from servicekit.db import Database, utcnow
from servicekit.migrations import upgrade
from servicekit.outbox_tables import outbox
from servicekit.permissions import ASSETS_RUN_SCRIPT, ASSETS_VIEW_ALL

A, B = "cust-a", "cust-b"
STAFF = Principals.staff(display_name="Sam Staff")
PORTAL_A = Principals.portal(A, "ctc-a", permissions={ASSETS_VIEW_ALL, ASSETS_RUN_SCRIPT}, display_name="Ann")


async def eventually(check, seconds: float = 8.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


async def rpc_error(call) -> grpc.aio.AioRpcError:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def new_token(replica, keys, asset_id: str) -> str:  # noqa: ANN001
    req = remote_pb2.CreateEnrolmentTokenRequest(asset_id=asset_id, valid_minutes=10)
    return (await replica.stub.CreateEnrolmentToken(req, metadata=keys.metadata(STAFF))).token


async def online_agent(replica, assets, keys, make_agent, customer: str = A, on_command=None):  # noqa: ANN001, ANN201
    """An enrolled agent of a new asset of `customer`, connected to `replica` and serving; (agent, asset, task)."""
    asset_id = await assets.asset(customer)
    agent = make_agent(replica)
    await agent.enrol(await new_token(replica, keys, asset_id))
    agent.on_command = on_command
    await agent.connect()
    return agent, asset_id, asyncio.create_task(agent.serve())


async def script(replica, keys, **fields) -> str:  # noqa: ANN001
    values = {"name": "Clear temp", "language": "shell", "body": "rm -rf /srv/x", **fields}
    req = remote_pb2.CreateScriptRequest(script=remote_pb2.Script(**values))
    return (await replica.stub.CreateScript(req, metadata=keys.metadata(STAFF))).script.id


def runner(chunks: list[bytes], *, exit_code: int = 0, between: asyncio.Event | None = None):  # noqa: ANN201
    """An agent's answer to RunScript: started, the chunks (pausing after the first until `between` is set), done."""

    async def on_command(agent, command) -> None:  # noqa: ANN001
        if command.WhichOneof("action") != "run_script":
            return
        run_id = command.run_script.run_id
        await agent.send(agent_pb2.ConnectRequest(run_started=agent_pb2.RunStarted(run_id=run_id)))
        for i, chunk in enumerate(chunks):
            await agent.send(agent_pb2.ConnectRequest(run_output=agent_pb2.RunOutput(run_id=run_id, data=chunk)))
            if i == 0 and between is not None:
                await between.wait()
        fin = agent_pb2.RunFinished(run_id=run_id, exit_code=exit_code)
        await agent.send(agent_pb2.ConnectRequest(run_finished=fin))

    return on_command


async def test_a_token_enrols_once_and_two_concurrent_uses_have_one_winner(replica, assets, keys, make_agent):
    asset_id = await assets.asset(A)
    token = await new_token(replica, keys, asset_id)
    first = make_agent(replica)
    reply = await first.enrol(token)
    assert reply.asset_id == asset_id and len(reply.command_public_key) == 32
    again = await rpc_error(make_agent(replica).enrol(token))
    assert again.code() == grpc.StatusCode.UNAUTHENTICATED

    token = await new_token(replica, keys, asset_id)
    results = await asyncio.gather(*(make_agent(replica).enrol(token) for _ in range(4)), return_exceptions=True)
    won = [r for r in results if isinstance(r, agent_pb2.EnrolResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 3
    assert {e.code() for e in lost} == {grpc.StatusCode.UNAUTHENTICATED}


async def test_an_expired_token_and_a_portal_user_are_refused(replica, assets, keys, make_agent, sqlite_db):
    asset_id = await assets.asset(A)
    token = await new_token(replica, keys, asset_id)
    async with sqlite_db.unit_of_work() as s:
        await s.execute(update(EnrolmentToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    err = await rpc_error(make_agent(replica).enrol(token))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    req = remote_pb2.CreateEnrolmentTokenRequest(asset_id=asset_id)
    denied = await rpc_error(replica.stub.CreateEnrolmentToken(req, metadata=keys.metadata(PORTAL_A)))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_bad_proof_is_refused(replica, assets, keys, make_agent):
    asset_id = await assets.asset(A)
    agent = make_agent(replica)
    await agent.enrol(await new_token(replica, keys, asset_id))
    err = await rpc_error(agent.connect(sign_with=Ed25519PrivateKey.generate()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # The same agent with its own key is welcomed.
    await agent.connect()


async def test_revoking_closes_the_live_stream_and_refuses_the_agent_after(replica, assets, keys, make_agent):
    agent, asset_id, serving = await online_agent(replica, assets, keys, make_agent)
    listed = await replica.stub.ListAgents(
        remote_pb2.ListAgentsRequest(asset_ids=[asset_id]), metadata=keys.metadata(PORTAL_A)
    )
    assert [(a.id, a.online) for a in listed.agents] == [(agent.agent_id, True)]
    other = Principals.portal(B, permissions={ASSETS_VIEW_ALL})
    hidden = await replica.stub.ListAgents(
        remote_pb2.ListAgentsRequest(asset_ids=[asset_id]), metadata=keys.metadata(other)
    )
    assert list(hidden.agents) == []

    await replica.stub.RevokeAgent(
        remote_pb2.RevokeAgentRequest(agent_id=agent.agent_id), metadata=keys.metadata(STAFF)
    )
    assert await asyncio.wait_for(serving, 5) == grpc.StatusCode.PERMISSION_DENIED
    err = await rpc_error(agent.connect())
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # Its key never enrols again, and the token it tried is spent all the same.
    token = await new_token(replica, keys, asset_id)
    assert (await rpc_error(agent.enrol(token))).code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await rpc_error(make_agent(replica).enrol(token))).code() == grpc.StatusCode.UNAUTHENTICATED
    listed = await replica.stub.ListAgents(remote_pb2.ListAgentsRequest(customer_id=A), metadata=keys.metadata(STAFF))
    assert [(a.online, a.HasField("revoked_at")) for a in listed.agents] == [(False, True)]


async def test_a_run_is_signed_persisted_and_watched_chunk_by_chunk_once(replica, assets, keys, make_agent, sqlite_db):
    between = asyncio.Event()
    chunks = [b"first line\n", "zwei \u00e9\n".encode(), b"third\n", b"last"]
    agent, asset_id, _ = await online_agent(
        replica, assets, keys, make_agent, on_command=runner(chunks, exit_code=0, between=between)
    )
    script_id = await script(
        replica, keys, variables=[remote_pb2.ScriptVariable(name="TARGET", default_value="/srv", required=True)]
    )
    start = remote_pb2.StartScriptRunRequest(
        script_id=script_id, asset_id=asset_id, variables={"TARGET": "/srv/c"}, ticket_id="t-1", idempotency_key="k1"
    )
    run = (await replica.stub.StartScriptRun(start, metadata=keys.metadata(STAFF))).run
    # The agent may already have reported it started by the time the answer is read.
    assert run.status in ("queued", "running")
    assert (run.asset_id, run.customer_id, run.requested_by) == (asset_id, A, "Sam Staff")
    again = (await replica.stub.StartScriptRun(start, metadata=keys.metadata(STAFF))).run
    assert again.id == run.id

    # The command verifies with the key returned at enrolment, and carries the variable as environment.
    assert await eventually(lambda: _true(agent.got_command.is_set()))
    (command,) = agent.commands
    assert agent.bad_signatures == 0
    assert (command.agent_id, command.run_script.run_id) == (agent.agent_id, run.id)
    assert dict(command.run_script.env) == {"TARGET": "/srv/c"}
    assert command.run_script.max_output_bytes == 8192

    async def first_chunk_stored() -> bool:
        got = await replica.stub.GetScriptRun(
            remote_pb2.GetScriptRunRequest(run_id=run.id), metadata=keys.metadata(STAFF)
        )
        return got.run.output == "first line\n"

    assert await eventually(first_chunk_stored)
    # The watcher joins after the first chunk: it reads that one from the database, the rest live.
    watch = replica.stub.WatchScriptRun(remote_pb2.WatchScriptRunRequest(run_id=run.id), metadata=keys.metadata(STAFF))
    seen: list[str] = []
    finished = None

    async def read_watch() -> None:
        nonlocal finished
        async for msg in watch:
            if msg.WhichOneof("kind") == "output":
                seen.append(msg.output)
                if len(seen) == 1:
                    between.set()
            else:
                finished = msg.finished

    await asyncio.wait_for(read_watch(), 10)
    assert "".join(seen) == b"".join(chunks).decode()
    assert finished is not None and (finished.status, finished.exit_code) == ("succeeded", 0)
    got = (
        await replica.stub.GetScriptRun(remote_pb2.GetScriptRunRequest(run_id=run.id), metadata=keys.metadata(STAFF))
    ).run
    assert (got.output, got.truncated, got.ticket_id) == (b"".join(chunks).decode(), False, "t-1")

    # A portal user of the customer sees it; another customer's does not.
    other = Principals.portal(B, permissions={ASSETS_VIEW_ALL})
    err = await rpc_error(
        replica.stub.GetScriptRun(remote_pb2.GetScriptRunRequest(run_id=run.id), metadata=keys.metadata(other))
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    async with sqlite_db.unit_of_work() as s:
        subjects = [r.subject for r in (await s.execute(select(outbox.c.subject))).all()]
    assert subjects.count(SCRIPT_RUN_FINISHED) == 1


async def _true(value: bool) -> bool:
    return value


async def test_a_flooding_agent_is_cut_at_the_bound(replica, assets, keys, make_agent, sqlite_db):
    # Big chunks, then a storm of tiny ones: stored together, a few writes rather than one per message.
    flood = [bytes([65 + i % 26]) * 1000 for i in range(5)] + [b"%09d\n" % i for i in range(3000)]
    agent, asset_id, _ = await online_agent(replica, assets, keys, make_agent, on_command=runner(flood))
    script_id = await script(replica, keys)
    start = remote_pb2.StartScriptRunRequest(script_id=script_id, asset_id=asset_id)
    run = (await replica.stub.StartScriptRun(start, metadata=keys.metadata(STAFF))).run

    async def done():  # noqa: ANN202
        got = await replica.stub.GetScriptRun(
            remote_pb2.GetScriptRunRequest(run_id=run.id), metadata=keys.metadata(STAFF)
        )
        return got.run if got.run.status == "succeeded" else None

    finished = await eventually(done, 15)
    assert finished is not None
    assert finished.truncated and len(finished.output) == 8192
    assert finished.output == b"".join(flood)[:8192].decode()
    async with sqlite_db.unit_of_work() as s:
        rows = (await s.execute(select(ScriptRunOutput.position).where(ScriptRunOutput.run_id == run.id))).all()
    assert len(rows) <= 20


async def test_a_run_fails_when_its_agent_disconnects(replica, assets, keys, make_agent):
    async def start_then_vanish(agent, command) -> None:  # noqa: ANN001
        await agent.send(agent_pb2.ConnectRequest(run_started=agent_pb2.RunStarted(run_id=command.run_script.run_id)))
        await agent.send(
            agent_pb2.ConnectRequest(run_output=agent_pb2.RunOutput(run_id=command.run_script.run_id, data=b"x"))
        )
        await asyncio.sleep(0.2)
        agent.call.cancel()

    agent, asset_id, _ = await online_agent(replica, assets, keys, make_agent, on_command=start_then_vanish)
    start = remote_pb2.StartScriptRunRequest(script_id=await script(replica, keys), asset_id=asset_id)
    run = (await replica.stub.StartScriptRun(start, metadata=keys.metadata(STAFF))).run

    async def failed():  # noqa: ANN202
        got = await replica.stub.GetScriptRun(
            remote_pb2.GetScriptRunRequest(run_id=run.id), metadata=keys.metadata(STAFF)
        )
        return got.run if got.run.status == "failed" else None

    got = await eventually(failed)
    assert got is not None and got.error == "agent disconnected" and got.output == "x"
    # Offline now: a new run is refused, and leaves nothing queued.
    err = await rpc_error(replica.stub.StartScriptRun(start, metadata=keys.metadata(STAFF)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "offline" in err.details()


async def test_portal_users_run_only_portal_scripts_without_variables_on_their_own_assets(
    replica, assets, keys, make_agent
):
    agent, asset_id, _ = await online_agent(replica, assets, keys, make_agent, on_command=runner([b"ok"]))
    _, other_asset, _ = await online_agent(replica, assets, keys, make_agent, customer=B)
    portal_ok = await script(replica, keys, portal=True, portal_name="Free disk space", portal_confirmation="Sure?")
    with_vars = await script(
        replica,
        keys,
        portal=True,
        portal_name="Clean a folder",
        portal_confirmation="Sure?",
        variables=[remote_pb2.ScriptVariable(name="DIR")],
    )
    staff_only = await script(replica, keys)
    me = keys.metadata(PORTAL_A)

    listed = (await replica.stub.ListScripts(remote_pb2.ListScriptsRequest(), metadata=me)).scripts
    assert [(s.id, s.name, s.body) for s in listed] == [(portal_ok, "Free disk space", "")]
    for script_id, asset, variables, code in [
        (with_vars, asset_id, {}, grpc.StatusCode.NOT_FOUND),
        (staff_only, asset_id, {}, grpc.StatusCode.NOT_FOUND),
        (portal_ok, other_asset, {}, grpc.StatusCode.NOT_FOUND),
        (portal_ok, asset_id, {"X": "1"}, grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        req = remote_pb2.StartScriptRunRequest(script_id=script_id, asset_id=asset, variables=variables)
        assert (await rpc_error(replica.stub.StartScriptRun(req, metadata=me))).code() == code
    no_permission = Principals.portal(A, permissions={ASSETS_VIEW_ALL})
    req = remote_pb2.StartScriptRunRequest(script_id=portal_ok, asset_id=asset_id)
    err = await rpc_error(replica.stub.StartScriptRun(req, metadata=keys.metadata(no_permission)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED

    run = (await replica.stub.StartScriptRun(req, metadata=me)).run
    assert run.requested_by == "Ann" and run.customer_id == A
    mine = await replica.stub.ListScriptRuns(remote_pb2.ListScriptRunsRequest(asset_id=asset_id), metadata=me)
    assert [r.id for r in mine.script_runs] == [run.id]


async def test_a_portal_run_on_a_new_ticket_names_its_ticket_at_once_and_tells_tickets_to_open_it(
    replica, assets, keys, make_agent, sqlite_db
):
    """SPEC X2: Run Script alone is enough; remote picks the new ticket's id, and the finished event asks tickets to
    open it for the customer and the user's contact, with the device's name."""
    asset_id = await assets.asset(A, name="Front desk PC")
    agent = make_agent(replica)
    await agent.enrol(await new_token(replica, keys, asset_id))
    agent.on_command = runner([b"done\n"])
    await agent.connect()
    asyncio.create_task(agent.serve())  # noqa: RUF006 - ends with the agent's stream
    portal_ok = await script(replica, keys, portal=True, portal_name="Free disk space", portal_confirmation="Sure?")
    runner_only = Principals.portal(A, "ctc-a", permissions={ASSETS_VIEW_ALL, ASSETS_RUN_SCRIPT}, display_name="Ann")
    me = keys.metadata(runner_only)

    both = remote_pb2.StartScriptRunRequest(script_id=portal_ok, asset_id=asset_id, ticket_id="t-1", new_ticket=True)
    err = await rpc_error(replica.stub.StartScriptRun(both, metadata=me))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "ticket" in err.details()

    req = remote_pb2.StartScriptRunRequest(
        script_id=portal_ok, asset_id=asset_id, new_ticket=True, idempotency_key="new-1"
    )
    run = (await replica.stub.StartScriptRun(req, metadata=me)).run
    assert run.new_ticket and str(uuid.UUID(run.ticket_id)) == run.ticket_id
    again = (await replica.stub.StartScriptRun(req, metadata=me)).run
    assert (again.id, again.ticket_id) == (run.id, run.ticket_id)
    other = (
        await replica.stub.StartScriptRun(
            remote_pb2.StartScriptRunRequest(script_id=portal_ok, asset_id=asset_id, new_ticket=True), metadata=me
        )
    ).run
    assert other.ticket_id != run.ticket_id

    async def finished_events() -> list[events_pb2.ScriptRunFinished]:
        async with sqlite_db.unit_of_work() as s:
            rows = (await s.execute(select(outbox.c.payload).where(outbox.c.subject == SCRIPT_RUN_FINISHED))).all()
        return [events_pb2.ScriptRunFinished.FromString(r.payload) for r in rows] if len(rows) == 2 else []

    events = {e.script_run_id: e for e in await eventually(finished_events)}
    event = events[run.id]
    assert (event.new_ticket, event.ticket_id, event.contact_id, event.asset_name) == (
        True,
        run.ticket_id,
        "ctc-a",
        "Front desk PC",
    )
    assert (event.meta.customer_id, event.script_name, event.status) == (A, "Clear temp", "succeeded")
    got = (await replica.stub.GetScriptRun(remote_pb2.GetScriptRunRequest(run_id=run.id), metadata=me)).run
    assert (got.new_ticket, got.ticket_id) == (True, run.ticket_id)


async def test_a_run_asked_of_one_replica_reaches_the_agent_held_by_the_other(
    new_database, keys, key_dir, nats_server, assets, make_agent, spawn_replica
):
    url = new_database("remote_two_replicas")
    await upgrade(MIGRATIONS_DIR, url)
    db = Database(url)
    common = {"nats_url": nats_server.url, "assets_address": assets.address, "max_output_bytes": 8192}
    replica_a = await spawn_replica(db, keys, key_dir, replica_id="replica-a", **common)
    replica_b = await spawn_replica(db, keys, key_dir, replica_id="replica-b", **common)
    try:
        agent, asset_id, _ = await online_agent(
            replica_a, assets, keys, make_agent, on_command=runner([b"from A\n", b"done"])
        )
        listed = await replica_b.stub.ListAgents(
            remote_pb2.ListAgentsRequest(asset_ids=[asset_id]), metadata=keys.metadata(STAFF)
        )
        assert [a.online for a in listed.agents] == [True]
        start = remote_pb2.StartScriptRunRequest(script_id=await script(replica_b, keys), asset_id=asset_id)
        run = (await replica_b.stub.StartScriptRun(start, metadata=keys.metadata(STAFF))).run
        watch = replica_b.stub.WatchScriptRun(
            remote_pb2.WatchScriptRunRequest(run_id=run.id), metadata=keys.metadata(STAFF)
        )
        outputs, finished = [], None
        async for msg in watch:
            if msg.WhichOneof("kind") == "output":
                outputs.append(msg.output)
            else:
                finished = msg.finished
        assert [c.run_script.run_id for c in agent.commands] == [run.id]
        assert "".join(outputs) == "from A\ndone"
        assert finished.status == "succeeded"
    finally:
        await replica_b.stop()
        await replica_a.stop()
        await db.dispose()


async def test_a_second_connection_replaces_the_first(replica, assets, keys, make_agent):
    agent, asset_id, first_serving = await online_agent(replica, assets, keys, make_agent, on_command=runner([b"2"]))
    twin = make_agent(replica)
    twin.key, twin.agent_id, twin.command_key = agent.key, agent.agent_id, agent.command_key
    twin.on_command = runner([b"2"])
    await twin.connect()
    asyncio.create_task(twin.serve())  # noqa: RUF006 - closed with the agent
    assert await asyncio.wait_for(first_serving, 5) == grpc.StatusCode.OK
    start = remote_pb2.StartScriptRunRequest(script_id=await script(replica, keys), asset_id=asset_id)
    run = (await replica.stub.StartScriptRun(start, metadata=keys.metadata(STAFF))).run
    assert await eventually(lambda: _true(twin.got_command.is_set()))
    assert agent.commands == [] and [c.run_script.run_id for c in twin.commands] == [run.id]
    listed = await replica.stub.ListAgents(remote_pb2.ListAgentsRequest(customer_id=A), metadata=keys.metadata(STAFF))
    assert [a.online for a in listed.agents] == [True]


async def test_a_heartbeat_keeps_the_agent_seen_and_finds_a_revocation_whose_notice_was_lost(
    replica, assets, keys, make_agent, sqlite_db
):
    agent, asset_id, serving = await online_agent(replica, assets, keys, make_agent)
    async with sqlite_db.unit_of_work() as s:
        await s.execute(update(Agent).values(last_seen_at=utcnow() - timedelta(minutes=5)))
    listed = await replica.stub.ListAgents(remote_pb2.ListAgentsRequest(customer_id=A), metadata=keys.metadata(STAFF))
    assert [a.online for a in listed.agents] == [False]
    await agent.send(agent_pb2.ConnectRequest(heartbeat=agent_pb2.Heartbeat()))

    async def online() -> bool:
        got = await replica.stub.ListAgents(remote_pb2.ListAgentsRequest(customer_id=A), metadata=keys.metadata(STAFF))
        return [a.online for a in got.agents] == [True]

    assert await eventually(online)
    # Revoked behind the broker's back (no notice on NATS): the next heartbeat ends the stream.
    async with sqlite_db.unit_of_work() as s:
        await s.execute(update(Agent).values(revoked_at=utcnow()))
    await agent.send(agent_pb2.ConnectRequest(heartbeat=agent_pb2.Heartbeat()))
    assert await asyncio.wait_for(serving, 5) == grpc.StatusCode.PERMISSION_DENIED


def _self_signed(directory) -> tuple[bytes, bytes]:  # noqa: ANN001
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "agent.crt").write_bytes(cert_pem)
    (directory / "agent.key").write_bytes(key_pem)
    return cert_pem, key_pem


async def test_the_agents_port_speaks_tls_when_given_a_certificate(
    sqlite_db, keys, key_dir, nats_server, assets, spawn_replica
):
    cert_pem, _ = _self_signed(key_dir)
    replica = await spawn_replica(
        sqlite_db,
        keys,
        key_dir,
        nats_url=nats_server.url,
        assets_address=assets.address,
        replica_id="replica-tls",
        agent_tls_cert_file=key_dir / "agent.crt",
        agent_tls_key_file=key_dir / "agent.key",
    )
    try:
        token = await new_token(replica, keys, await assets.asset(A))
        key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        request = agent_pb2.EnrolRequest(token=token, public_key=key)
        async with grpc.aio.insecure_channel(replica.agent_address) as plain:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await agent_pb2_grpc.AgentServiceStub(plain).Enrol(request, timeout=3)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        creds = grpc.ssl_channel_credentials(root_certificates=cert_pem)
        address = f"localhost:{replica.settings.agent_port}"
        async with grpc.aio.secure_channel(address, creds) as secure:
            reply = await agent_pb2_grpc.AgentServiceStub(secure).Enrol(request, timeout=5)
        assert reply.agent_id and len(reply.command_public_key) == 32
    finally:
        await replica.stop()


def test_an_enrolment_token_never_begins_with_a_dash() -> None:
    """A token "-…" after `portal-agent enrol --token` reads as an option; without the rule ~30 of these would."""
    tokens = [agent_service.new_token() for _ in range(2000)]
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == len(tokens) and all(len(t) == 43 for t in tokens)
