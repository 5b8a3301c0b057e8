"""`python -m identity` as a real process: migrates, serves health and metrics, bootstraps staff, consumes
ticket_created from a real NATS and emails over real SMTP exactly once, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portal.common.v1 import common_pb2
from portal.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc
from portal.tickets.v1 import events_pb2 as ticket_events
from servicekit.principal import bearer_metadata

STAFF_EMAIL = "boss@example.test"
STAFF_PASSWORD = "Kq7#vW2m!pL9zR4x-boot"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Running:
    process: subprocess.Popen
    grpc_addr: str
    metrics_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def service_env(tmp_path: Path, signing_key_file: Path, nats_url: str, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "no_proxy": "127.0.0.1,localhost",
            "IDENTITY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}",
            "IDENTITY_SIGNING_KEY_FILE": str(signing_key_file),
            "IDENTITY_NATS_URL": nats_url,
            "IDENTITY_GRPC_PORT": str(free_port()),
            "IDENTITY_METRICS_PORT": str(free_port()),
            "IDENTITY_SMTP_HOST": "127.0.0.1",
            "IDENTITY_SMTP_PORT": str(smtp_port),
            "IDENTITY_MAIL_FROM": "portal@example.test",
            "IDENTITY_PORTAL_URL": "http://portal.example.test:8000",
            "IDENTITY_BOOTSTRAP_STAFF_EMAIL": STAFF_EMAIL,
            "IDENTITY_BOOTSTRAP_STAFF_PASSWORD": STAFF_PASSWORD,
        }
    )
    return env


def wait_serving(addr: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(addr) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"identity exited with {process.returncode}:\n{log.read_text()}")
            try:
                if (
                    health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    pytest.fail(f"identity did not serve within {timeout}s:\n{log.read_text()}")


@pytest.fixture
def identity_process(tmp_path: Path, signing_key_file: Path, nats_server, smtp_server) -> Iterator[Running]:  # noqa: ANN001
    env = service_env(tmp_path, signing_key_file, nats_server.url, smtp_server.port)
    log_path = tmp_path / "identity.log"
    migrate = subprocess.run(
        [sys.executable, "-m", "identity", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "identity"], env=env, stdout=log, stderr=subprocess.STDOUT)
    running = Running(process, f"127.0.0.1:{env['IDENTITY_GRPC_PORT']}", int(env["IDENTITY_METRICS_PORT"]), log_path)
    try:
        wait_serving(running.grpc_addr, process, log_path)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def test_the_process_serves_consumes_mails_and_stops_cleanly(
    identity_process: Running, nats_server, smtp_server
) -> None:  # noqa: ANN001, E501
    url = f"http://127.0.0.1:{identity_process.metrics_port}/metrics"
    metrics = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())  # noqa: S310
    assert b"portal_identity_sign_ins" in metrics

    async with grpc.aio.insecure_channel(identity_process.grpc_addr) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        signed_in = await stub.SignIn(
            identity_pb2.SignInRequest(
                login=STAFF_EMAIL, password=STAFF_PASSWORD, audience=identity_pb2.AUDIENCE_STAFF
            ),
            timeout=10,
        )
        token = (
            await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=signed_in.session_token))
        ).principal_token
        md = bearer_metadata(token)
        customer = (
            await stub.CreateCustomer(
                identity_pb2.CreateCustomerRequest(business_name="Acme Dental", email="office@acme.test"),
                metadata=md,
                timeout=10,
            )
        ).customer
        contact = (
            await stub.CreateContact(
                identity_pb2.CreateContactRequest(customer_id=customer.id, name="Alice", email="alice@acme.test"),
                metadata=md,
                timeout=10,
            )
        ).contact

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        event_id = str(uuid.uuid4())
        event = ticket_events.TicketCreated(
            meta=common_pb2.EventMeta(event_id=event_id, customer_id=customer.id),
            ticket_id=f"ticket-{event_id}",
            number=7,
            customer_id=customer.id,
            contact_id=contact.id,
            subject="Printer jams",
        ).SerializeToString()
        subject = "portal.tickets.ticket_created.v1"
        # A relay retry (same message id, dropped by JetStream) and a republish under a new message id
        # (past JetStream and the inbox; the mail outbox's unique key absorbs it).
        await js.publish(subject, event, headers={"Nats-Msg-Id": event_id})
        await js.publish(subject, event, headers={"Nats-Msg-Id": event_id})
        await js.publish(subject, event, headers={"Nats-Msg-Id": f"{event_id}-again"})

        def to_alice() -> list:
            return [e for e in smtp_server.inbox.envelopes if e.rcpt_tos == ["alice@acme.test"]]

        for _ in range(200):
            if to_alice():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # room for a duplicate to show up
        [mail] = to_alice()
        assert b"Ticket #7 received: Printer jams" in mail.content
        assert f"http://portal.example.test:8000/tickets/ticket-{event_id}".encode() in mail.content

        # CustomerCreated went out through the outbox relay to JetStream.
        published = await js.get_last_msg("PORTAL", "portal.identity.customer_created.v1")
        assert events_pb2.CustomerCreated.FromString(published.data).customer_id == customer.id
    finally:
        await nc.close()

    identity_process.process.send_signal(signal.SIGTERM)
    assert identity_process.process.wait(15) == 0
    log = identity_process.log()
    assert "identity stopping" in log
    assert STAFF_PASSWORD not in log and signed_in.session_token not in log and token not in log
