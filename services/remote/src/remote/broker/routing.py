"""Replica routing over core NATS (docs/remote.md, "Replicas and routing").

The replica holding an agent's stream subscribes to `remote.agent.<agent_id>`; any replica sends a SignedCommand
there with request/reply (the holder answers b"ok" once it queued the command on the stream); no responder or no
answer within 2 s means the agent is offline. Control notices for the holder travel on the same subject with a
`Portal-Notice` header: "revoke" (close the stream, PERMISSION_DENIED) and "replace" (a newer connection of the
same agent took over). Run output goes out live on `remote.run.<run_id>` and terminal traffic on
`remote.session.<session_id>`, as serialized agent_pb2.ConnectRequest messages.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from remote import metrics
from remote.broker.signing import CommandSigner
from servicekit.errors import FailedPrecondition

log = logging.getLogger(__name__)

NOTICE = "Portal-Notice"
NOTICE_REVOKE = "revoke"
NOTICE_REPLACE = "replace"
CONNECTION = "Portal-Connection"
OFFSET = "Portal-Offset"
SEND_TIMEOUT = 2.0


def agent_subject(agent_id: str) -> str:
    return f"remote.agent.{agent_id}"


def run_subject(run_id: str) -> str:
    return f"remote.run.{run_id}"


def session_subject(session_id: str) -> str:
    return f"remote.session.{session_id}"


class AgentOffline(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__("the device is offline")


class Broker:
    def __init__(self, nc: NatsClient, signer: CommandSigner) -> None:
        self.nc = nc
        self.signer = signer

    async def send(self, agent_id: str, action: object) -> str:
        """Sign `action` for `agent_id` and hand it to the replica holding its stream; the command id."""
        command = self.signer.command(agent_id, action)
        signed = self.signer.sign(command)
        try:
            reply = await self.nc.request(agent_subject(agent_id), signed.SerializeToString(), timeout=SEND_TIMEOUT)
        except (NoRespondersError, NatsTimeout):
            metrics.COMMANDS_UNDELIVERED.inc()
            raise AgentOffline() from None
        if reply.data != b"ok":
            raise AgentOffline()
        return command.command_id

    async def notify(self, agent_id: str, notice: str) -> None:
        await self.nc.publish(agent_subject(agent_id), b"", headers={NOTICE: notice})
        await self.nc.flush(timeout=2)
