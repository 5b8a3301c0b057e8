"""`python -m remote` as a real process: it migrates, answers gRPC health, exposes /metrics, and stops
cleanly on SIGTERM; a missing principal key stops it at start with a readable message."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal_local.ports import free_port
from portal_local.procs import ManagedProcess
from portal_local.stack import grpc_serving
from remote.config import Settings
from remote.main import NAME
from servicekit.settings import load_settings

PREFIX = f"{NAME.upper()}_"


def metrics_text(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def test_the_service_migrates_serves_and_stops_cleanly(tmp_path, nats_server):
    key_file = tmp_path / "principal.pub.pem"
    key_file.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    grpc_port, metrics_port, db_file = free_port(), free_port(), tmp_path / f"{NAME}.db"
    env = {
        **os.environ,
        f"{PREFIX}DATABASE_URL": f"sqlite+aiosqlite:///{db_file}",
        f"{PREFIX}PRINCIPAL_PUBLIC_KEY_FILE": str(key_file),
        f"{PREFIX}NATS_URL": nats_server.url,
        f"{PREFIX}GRPC_PORT": str(grpc_port),
        f"{PREFIX}METRICS_PORT": str(metrics_port),
    }
    proc = ManagedProcess(NAME, [sys.executable, "-m", NAME], log_path=tmp_path / f"{NAME}.log", env=env)
    proc.start()
    try:
        deadline = time.monotonic() + 30
        while not grpc_serving(f"127.0.0.1:{grpc_port}"):
            assert proc.running and time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.1)
        assert f"portal_{NAME}_outbox_backlog" in metrics_text(metrics_port)
        with sqlite3.connect(db_file) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"alembic_version", "outbox", "inbox"} < tables

        proc.signal(signal.SIGTERM)
        assert proc.wait(15), proc.log_tail()
        assert proc.returncode == 0, proc.log_tail()
    finally:
        proc.stop()


def test_without_the_principal_public_key_the_service_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv(f"{PREFIX}DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv(f"{PREFIX}PRINCIPAL_PUBLIC_KEY_FILE", raising=False)
    with pytest.raises(SystemExit, match=f"{PREFIX}PRINCIPAL_PUBLIC_KEY_FILE"):
        load_settings(Settings)
    monkeypatch.setenv(f"{PREFIX}PRINCIPAL_PUBLIC_KEY_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SystemExit, match=f"{PREFIX}PRINCIPAL_PUBLIC_KEY_FILE"):
        load_settings(Settings)
