"""`python -m remote` as a real process: it migrates, answers gRPC health, exposes /metrics, serves the agents'
own port, and stops cleanly on SIGTERM; a missing principal key stops it at start with a readable message."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.remote.v1 import agent_pb2, agent_pb2_grpc
from portal_local.ports import free_port
from portal_local.procs import ManagedProcess
from portal_local.stack import grpc_serving
from portal_testkit.service_process import check_migrates_serves_and_stops, check_refuses_without_public_key
from remote.broker.signing import load_command_key, private_pem
from remote.config import Settings
from remote.main import NAME

BOGUS = "no-such-enrolment-" + "token"


def test_the_service_migrates_serves_and_stops_cleanly(tmp_path, nats_server, monkeypatch):
    # The agents' port too is a free one, never the default a running stack may hold.
    monkeypatch.setenv("REMOTE_AGENT_PORT", str(free_port()))
    check_migrates_serves_and_stops(NAME, tmp_path, nats_server.url)


def test_without_the_principal_public_key_the_service_refuses_to_start(monkeypatch, tmp_path):
    check_refuses_without_public_key(Settings, monkeypatch, tmp_path)


def test_the_agents_port_serves_agent_service(tmp_path, nats_server, keys):
    command_key = tmp_path / "command.pem"
    command_key.write_bytes(private_pem(Ed25519PrivateKey.generate()))
    grpc_port, agent_port = free_port(), free_port()
    env = {
        **os.environ,
        "REMOTE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'remote.db'}",
        "REMOTE_PRINCIPAL_PUBLIC_KEY_FILE": str(keys.write_public_key(tmp_path)),
        "REMOTE_NATS_URL": nats_server.url,
        "REMOTE_GRPC_PORT": str(grpc_port),
        "REMOTE_AGENT_PORT": str(agent_port),
        "REMOTE_COMMAND_KEY_FILE": str(command_key),
    }
    proc = ManagedProcess(NAME, [sys.executable, "-m", NAME], log_path=tmp_path / "remote.log", env=env)
    proc.start()
    try:
        deadline = time.monotonic() + 30
        while not grpc_serving(f"127.0.0.1:{grpc_port}"):
            assert proc.running and time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.1)

        async def enrol() -> grpc.StatusCode:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{agent_port}") as channel:
                stub = agent_pb2_grpc.AgentServiceStub(channel)
                try:
                    await stub.Enrol(agent_pb2.EnrolRequest(token=BOGUS, public_key=b"k" * 32), timeout=5)
                except grpc.aio.AioRpcError as err:
                    return err.code()
            return grpc.StatusCode.OK

        assert asyncio.run(enrol()) == grpc.StatusCode.UNAUTHENTICATED
        assert BOGUS not in proc.log_tail()
        proc.signal(signal.SIGTERM)
        assert proc.wait(15), proc.log_tail()
        assert proc.returncode == 0, proc.log_tail()
    finally:
        proc.stop()


def test_prod_needs_the_command_key_and_a_wrong_key_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="REMOTE_COMMAND_KEY_FILE is required"):
        load_command_key(None, env="prod")
    not_a_key = tmp_path / "x.pem"
    not_a_key.write_text("not a key")
    with pytest.raises(SystemExit, match="cannot read REMOTE_COMMAND_KEY_FILE"):
        load_command_key(not_a_key, env="dev")
