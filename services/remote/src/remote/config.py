"""Remote settings: REMOTE_* environment variables."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field, FilePath

from servicekit.settings import ServiceSettings, service_config


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(ServiceSettings):
    model_config = service_config("REMOTE_")

    grpc_port: int = 50055
    # Without identity's public key no caller could be verified, so the service refuses to start.
    principal_public_key_file: FilePath
    # The second gRPC server, for devices' agents only (AgentService, no principal tokens). TLS when both files
    # are set; plain only for loopback development and tests.
    agent_host: str = "127.0.0.1"
    agent_port: int = Field(50065, ge=0, le=65535)
    agent_tls_cert_file: Path | None = None
    agent_tls_key_file: Path | None = None
    # The broker's Ed25519 command-signing key (PEM, PKCS8), shared by every replica: agents run only what it
    # signed. Required with env=prod; in dev without it a key is made for this process (and agents enrolled with
    # it refuse commands after a restart).
    command_key_file: Path | None = None
    # Which replica holds an agent's stream (diagnostics; routing itself goes through NATS).
    replica_id: str = Field(default_factory=_default_replica_id, min_length=1, max_length=100)
    # The assets service (host:port): remote asks it, with the caller's token, whether the caller may see an asset.
    assets_address: str = "127.0.0.1:50054"
    assets_timeout_seconds: float = Field(3.0, gt=0, le=30)
    heartbeat_seconds: int = Field(10, ge=1, le=300)
    max_output_bytes: int = Field(65536, ge=1024, le=16 * 1024 * 1024)
    # A float, so a test stack can make sessions end within seconds (0.25: 15 s) and see the limit happen.
    session_max_minutes: float = Field(15, ge=0.05, le=240)
    # How often stuck runs and sessions past their limit are swept (a dead replica's leftovers).
    sweep_interval_seconds: float = Field(10.0, gt=0)

    @property
    def agent_address(self) -> str:
        return f"{self.agent_host}:{self.agent_port}"
