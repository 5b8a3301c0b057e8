"""Who holds data for a customer (SPEC C5): identity asks tickets, billing, assets and remote over gRPC, all at
once and outside any unit of work, before it offers or performs a delete. A service it cannot ask stops the
delete: nothing is deleted blindly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import grpc

from identity.db import utcnow
from identity.sessions.tokens import PrincipalTokens
from portal.common.v1 import customer_data_pb2, customer_data_pb2_grpc
from servicekit.errors import Unavailable
from servicekit.grpc_client import call_options, open_channel
from servicekit.principal import KIND_SERVICE, Principal

log = logging.getLogger(__name__)

PEERS = ("tickets", "billing", "assets", "remote")
UNREACHABLE = "could not ask"


@dataclass(frozen=True)
class Holding:
    service: str
    kind: str
    count: int

    def describe(self) -> str:
        """'3 tickets in tickets', '1 invoice in billing'."""
        return f"{self.count} {self.kind if self.count != 1 else singular(self.kind)} in {self.service}"


def singular(kind: str) -> str:
    words = kind.split(" ")
    last = words[-1]
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last])


def describe(holdings: list[Holding]) -> str:
    return ", ".join(h.describe() for h in holdings)


class DataHolders:
    """One channel per peer service, opened on first use; every call carries identity's own service token."""

    def __init__(self, addresses: Mapping[str, str], *, tokens: PrincipalTokens, timeout: float = 5.0) -> None:
        self._addresses = dict(addresses)
        self._tokens = tokens
        self._timeout = timeout
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _stub(self, service: str) -> customer_data_pb2_grpc.CustomerDataServiceStub:
        if service not in self._channels:
            self._channels[service] = open_channel(self._addresses[service])
        return customer_data_pb2_grpc.CustomerDataServiceStub(self._channels[service])

    async def ask(self, customer_id: str) -> list[Holding]:
        """What every peer holds for the customer; Unavailable when any of them cannot be asked."""
        unknown = [p for p in PEERS if not self._addresses.get(p)]
        if unknown:
            names = ", ".join(f"IDENTITY_{p.upper()}_ADDR" for p in unknown)
            raise Unavailable(
                f"{UNREACHABLE} {', '.join(unknown)}: identity is not told where ({names}); nothing was deleted"
            )
        token, _ = self._tokens.sign(
            Principal(kind=KIND_SERVICE, subject_id="identity", display_name="identity"),
            not_after=utcnow() + timedelta(minutes=1),
        )
        request = customer_data_pb2.CountCustomerDataRequest(customer_id=customer_id)
        answers = await asyncio.gather(
            *(self._stub(p).CountCustomerData(request, **call_options(token, timeout=self._timeout)) for p in PEERS),
            return_exceptions=True,
        )
        failed = []
        holdings: list[Holding] = []
        for peer, answer in zip(PEERS, answers, strict=True):
            if isinstance(answer, BaseException):
                code = answer.code().name if isinstance(answer, grpc.aio.AioRpcError) else type(answer).__name__
                log.warning("CountCustomerData at %s failed: %s", peer, code)
                failed.append(peer)
                continue
            holdings += [Holding(peer, c.kind, int(c.count)) for c in answer.counts if c.count > 0]
        if failed:
            raise Unavailable(
                f"{UNREACHABLE} {', '.join(failed)} whether it holds data for this customer; nothing was deleted, "
                "try again later"
            )
        return holdings

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
