"""Checking a SignedCommand before anything acts on it: the signature over the raw bytes first (nothing is parsed
before it checks), then the addressee, the validity window and the replay memory."""

from __future__ import annotations

import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError

from portal.remote.v1 import agent_pb2

COMMAND_PREFIX = b"portal-command-v1\n"
AUTH_PREFIX = b"portal-agent-auth-v1\n"
# A command issued up to this far in the future still counts (the broker's clock may be ahead of the device's).
CLOCK_SKEW_SECONDS = 30.0


def proof_message(agent_id: str, nonce: bytes) -> bytes:
    return AUTH_PREFIX + agent_id.encode() + b"\n" + nonce


class Refusal(Exception):
    def __init__(self, command_id: str, reason: str) -> None:
        super().__init__(reason)
        self.command_id = command_id
        self.reason = reason  # one of CommandRefused.reason's values


class CommandVerifier:
    """Stateful: it remembers the ids of the commands it accepted until they expire."""

    def __init__(self, command_key: Ed25519PublicKey, agent_id: str, clock=time.time) -> None:
        self._key = command_key
        self._agent_id = agent_id
        self._clock = clock
        self._seen: dict[str, float] = {}  # command_id -> expires_at (epoch seconds)

    def check(self, signed: agent_pb2.SignedCommand) -> agent_pb2.Command:
        """The command, once it passed every check; else raises Refusal."""
        try:
            self._key.verify(signed.signature, COMMAND_PREFIX + signed.body)
        except InvalidSignature:
            raise Refusal("", "bad_signature") from None
        command = agent_pb2.Command()
        try:
            command.ParseFromString(signed.body)
        except DecodeError:
            raise Refusal("", "malformed") from None
        cid = command.command_id
        if not cid or not command.HasField("expires_at") or command.WhichOneof("action") is None:
            raise Refusal(cid, "malformed")
        if command.agent_id != self._agent_id:
            raise Refusal(cid, "wrong_agent")
        now = self._clock()
        expires = command.expires_at.seconds + command.expires_at.nanos / 1e9
        issued = command.issued_at.seconds + command.issued_at.nanos / 1e9
        # Past its end, or issued further in the future than the allowed skew: not valid now.
        if now >= expires or issued > now + CLOCK_SKEW_SECONDS:
            raise Refusal(cid, "expired")
        self._forget(now)
        if cid in self._seen:
            raise Refusal(cid, "replayed")
        self._seen[cid] = expires
        return command

    def _forget(self, now: float) -> None:
        for cid in [c for c, exp in self._seen.items() if exp <= now]:
            del self._seen[cid]
