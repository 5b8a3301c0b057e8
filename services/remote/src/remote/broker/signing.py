"""The broker's command key: every command an agent runs is signed with it (agent.proto)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.remote.v1 import agent_pb2
from servicekit.db import utcnow

log = logging.getLogger(__name__)

COMMAND_PREFIX = b"portal-command-v1\n"
AUTH_PREFIX = b"portal-agent-auth-v1\n"
COMMAND_TTL = timedelta(seconds=60)

ACTIONS = {
    agent_pb2.RunScript: "run_script",
    agent_pb2.CancelRun: "cancel_run",
    agent_pb2.OpenTerminal: "open_terminal",
    agent_pb2.TerminalInput: "terminal_input",
    agent_pb2.ResizeTerminal: "resize_terminal",
    agent_pb2.CloseTerminal: "close_terminal",
}


def load_command_key(path: Path | None, *, env: str) -> Ed25519PrivateKey:
    """The shared command key from its PEM (PKCS8) file; in dev without a file, a key for this process only."""
    if path is None:
        if env == "prod":
            raise SystemExit("REMOTE_COMMAND_KEY_FILE is required: the Ed25519 command-signing key (PEM, PKCS8)")
        log.warning(
            "REMOTE_COMMAND_KEY_FILE is not set: commands are signed with a key made for this process only; "
            "agents enrolled now refuse commands after a restart and from other replicas"
        )
        return Ed25519PrivateKey.generate()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read REMOTE_COMMAND_KEY_FILE {path}: {exc.__class__.__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit("REMOTE_COMMAND_KEY_FILE must hold an Ed25519 private key")
    return key


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class CommandSigner:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = public_bytes(key)

    def command(self, agent_id: str, action: object) -> agent_pb2.Command:
        """A Command for `agent_id` carrying `action` (one of ACTIONS' messages), new id, valid 60 s."""
        now = utcnow()
        cmd = agent_pb2.Command(command_id=str(uuid.uuid4()), agent_id=agent_id)
        cmd.issued_at.FromDatetime(now)
        cmd.expires_at.FromDatetime(now + COMMAND_TTL)
        getattr(cmd, ACTIONS[type(action)]).CopyFrom(action)
        return cmd

    def sign(self, command: agent_pb2.Command) -> agent_pb2.SignedCommand:
        body = command.SerializeToString()
        return agent_pb2.SignedCommand(body=body, signature=self._key.sign(COMMAND_PREFIX + body))
