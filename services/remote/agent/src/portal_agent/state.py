"""The agent's state directory: `agent.json` (ids, server, TLS choice, the broker's command key) and `agent.key`
(the agent's Ed25519 private key, PEM PKCS8, mode 0600 from the moment it exists)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

STATE_FILE = "agent.json"
KEY_FILE = "agent.key"


class StateError(Exception):
    """The state directory is missing, unreadable or unsafe; the message says which and what to do."""


def default_state_dir() -> Path:
    return Path(os.environ.get("PORTAL_AGENT_STATE_DIR") or Path.home() / ".portal-agent")


@dataclass(frozen=True)
class AgentState:
    agent_id: str
    asset_id: str
    server: str
    insecure: bool
    ca_file: str
    command_public_key: str  # base64 of the raw 32 bytes

    def command_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.command_public_key))


def is_enrolled(state_dir: Path) -> bool:
    return (state_dir / STATE_FILE).exists() or (state_dir / KEY_FILE).exists()


def make_state_dir(state_dir: Path) -> None:
    """Create the directory 0700 (or tighten an existing one to 0700: it holds a private key)."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if sys.platform != "win32" and stat.S_IMODE(state_dir.stat().st_mode) != 0o700:
        os.chmod(state_dir, 0o700)


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, the file created 0600: a temporary file opened with O_EXCL and mode 0600
    (never readable by others, not even briefly), flushed to disk, then renamed over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def save(state_dir: Path, state: AgentState, key: Ed25519PrivateKey) -> None:
    make_state_dir(state_dir)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(state_dir / KEY_FILE, pem)
    _write_private(state_dir / STATE_FILE, (json.dumps(asdict(state), indent=2) + "\n").encode())


def load(state_dir: Path) -> AgentState:
    path = state_dir / STATE_FILE
    try:
        raw = json.loads(path.read_text())
        return AgentState(
            agent_id=str(raw["agent_id"]),
            asset_id=str(raw["asset_id"]),
            server=str(raw["server"]),
            insecure=bool(raw["insecure"]),
            ca_file=str(raw.get("ca_file") or ""),
            command_public_key=str(raw["command_public_key"]),
        )
    except FileNotFoundError:
        raise StateError(f"not enrolled: {path} does not exist (run `portal-agent enrol` first)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StateError(f"{path} is unreadable ({type(e).__name__}); enrol again with --force") from None


def load_key(state_dir: Path) -> Ed25519PrivateKey:
    path = state_dir / KEY_FILE
    try:
        if sys.platform != "win32" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise StateError(f"{path} is readable by other users; run `chmod 600 {path}`")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise StateError(f"not enrolled: {path} does not exist (run `portal-agent enrol` first)") from None
    except (OSError, ValueError, TypeError) as e:
        raise StateError(f"{path} is unreadable ({type(e).__name__}); enrol again with --force") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StateError(f"{path} is not an Ed25519 key; enrol again with --force")
    return key
