"""Checks every service's `python -m <svc>` must pass, shared so each service's test is two lines."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic_settings import BaseSettings

from portal_local.ports import free_port
from portal_local.procs import ManagedProcess
from portal_local.stack import grpc_serving
from servicekit.settings import load_settings


def metrics_text(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def check_migrates_serves_and_stops(name: str, tmp_path: Path, nats_url: str) -> None:
    """The real process migrates its SQLite database, answers gRPC health, exposes /metrics and exits 0 on
    SIGTERM."""
    prefix = f"{name.upper()}_"
    key_file = tmp_path / "principal.pub.pem"
    key_file.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    grpc_port, metrics_port, db_file = free_port(), free_port(), tmp_path / f"{name}.db"
    env = {
        **os.environ,
        f"{prefix}DATABASE_URL": f"sqlite+aiosqlite:///{db_file}",
        f"{prefix}PRINCIPAL_PUBLIC_KEY_FILE": str(key_file),
        f"{prefix}NATS_URL": nats_url,
        f"{prefix}GRPC_PORT": str(grpc_port),
        f"{prefix}METRICS_PORT": str(metrics_port),
    }
    proc = ManagedProcess(name, [sys.executable, "-m", name], log_path=tmp_path / f"{name}.log", env=env)
    proc.start()
    try:
        deadline = time.monotonic() + 30
        while not grpc_serving(f"127.0.0.1:{grpc_port}"):
            assert proc.running and time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.1)
        assert f"portal_{name}_outbox_backlog" in metrics_text(metrics_port)
        with sqlite3.connect(db_file) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"alembic_version", "outbox", "inbox"} < tables

        proc.signal(signal.SIGTERM)
        assert proc.wait(15), proc.log_tail()
        assert proc.returncode == 0, proc.log_tail()
    finally:
        proc.stop()


def check_refuses_without_public_key(
    settings_cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A missing or unreadable principal key stops the service at start with a message naming the variable."""
    prefix = settings_cls.model_config.get("env_prefix", "")
    monkeypatch.setenv(f"{prefix}DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv(f"{prefix}PRINCIPAL_PUBLIC_KEY_FILE", raising=False)
    with pytest.raises(SystemExit, match=f"{prefix}PRINCIPAL_PUBLIC_KEY_FILE"):
        load_settings(settings_cls)
    monkeypatch.setenv(f"{prefix}PRINCIPAL_PUBLIC_KEY_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(SystemExit, match=f"{prefix}PRINCIPAL_PUBLIC_KEY_FILE"):
        load_settings(settings_cls)
