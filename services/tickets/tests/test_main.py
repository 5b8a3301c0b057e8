"""`python -m tickets` as a real process: clear refusal without its key, migrate, serve, publish, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portal.tickets.v1 import events_pb2, tickets_pb2, tickets_pb2_grpc
from portal_testkit import free_port
from servicekit import events as kit_events
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from tickets.events.publish import TICKET_CREATED


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETS_")}
    env.update({f"TICKETS_{k.upper()}": v for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_missing_public_key_stops_with_a_clear_message(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tickets", "migrate"],
        env=_env(database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "TICKETS_PRINCIPAL_PUBLIC_KEY_FILE" in out.stderr
    assert "TICKETS_ASSETS_ADDR" in out.stderr
    assert "Traceback" not in out.stderr


async def test_serves_publishes_and_stops_on_sigterm(
    db_url: str,
    public_key_file: Path,
    nats_server,
    keys,
    principals,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    env = _env(
        database_url=db_url,
        principal_public_key_file=str(public_key_file),
        nats_url=nats_server.url,
        # Nothing listens there: this ticket names no site or asset, so assets is never asked.
        assets_addr=f"127.0.0.1:{free_port()}",
        grpc_port=str(grpc_port),
        metrics_port=str(metrics_port),
    )
    migrate = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tickets", "migrate"], env=env, capture_output=True, timeout=60
    )
    assert migrate.returncode == 0, migrate.stderr

    log = tmp_path / "tickets.log"
    with log.open("wb") as out:  # noqa: ASYNC230 - opening a local file for the child's output
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickets", env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        # Polled while the process starts: gRPC's default reconnect backoff (1 s, growing by 1.6) would find the
        # server only at its next attempt, seconds after it listens.
        backoff = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 200)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}", options=backoff) as channel:
            await _wait_serving(channel, proc, log)
            user = principals.portal("cust-a", "contact-a", permissions={TICKETS_CREATE, TICKETS_VIEW_ALL})
            ticket = (
                await tickets_pb2_grpc.TicketsServiceStub(channel).CreateTicket(
                    tickets_pb2.CreateTicketRequest(subject="From the real process", description="d"),
                    metadata=keys.metadata(user),
                    timeout=10,
                )
            ).ticket
        event = await _receive_ticket_created(nats_server.url, ticket.id)
        assert event.number == ticket.number and event.customer_id == "cust-a"

        metrics = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics_port}/metrics")
        assert 'portal_tickets_grpc_requests_total{code="OK",method="CreateTicket"}' in metrics

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0, await _read(log)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "Traceback" not in await _read(log)


async def _read(path: Path) -> str:
    return await asyncio.to_thread(path.read_text)


async def _wait_serving(channel: grpc.aio.Channel, proc: asyncio.subprocess.Process, log: Path) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 60
    while True:
        if proc.returncode is not None:
            pytest.fail(f"tickets exited with {proc.returncode}:\n{await _read(log)}")
        try:
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"tickets did not become healthy:\n{await _read(log)}")
        await asyncio.sleep(0.2)


async def _receive_ticket_created(url: str, ticket_id: str) -> events_pb2.TicketCreated:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        durable = f"test-main-{uuid.uuid4().hex[:12]}"
        sub = await js.pull_subscribe(TICKET_CREATED, durable=durable, stream=kit_events.STREAM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(batch=50, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                event = events_pb2.TicketCreated.FromString(msg.data)
                if event.ticket_id == ticket_id:
                    assert msg.headers["Nats-Msg-Id"] == event.meta.event_id
                    await js.delete_consumer(kit_events.STREAM, durable)
                    return event
        pytest.fail("the ticket_created event never reached JetStream")
    finally:
        await nc.close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - a local test URL
        return r.read().decode()
