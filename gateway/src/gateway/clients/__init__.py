"""Thin async wrappers over the backends' gRPC stubs, and the one channel per backend they share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.clients.assets import AssetsClient
from gateway.clients.billing import BillingClient
from gateway.clients.credentials import CredentialsClient
from gateway.clients.documents import DocumentsClient
from gateway.clients.identity import IdentityClient
from gateway.clients.knowledge import KnowledgeClient
from gateway.clients.portal_controls import PortalControlsClient
from gateway.clients.remote import RemoteClient
from gateway.clients.tickets import TicketsClient
from gateway.config import BACKENDS, Settings
from servicekit.grpc_client import open_channel


@dataclass
class Backends:
    channels: dict[str, grpc.aio.Channel]
    identity: IdentityClient
    tickets: TicketsClient
    billing: BillingClient
    assets: AssetsClient
    remote: RemoteClient
    # The tickets service's KnowledgeService (knowledge base, announcements, charts), on the tickets channel.
    knowledge: KnowledgeClient
    # Identity's portal controls (off switch, branding, support windows, admin override), on the identity channel.
    portal_controls: PortalControlsClient
    # The assets service's DocumentsService (customer documents, SPEC A4), on the assets channel.
    documents: DocumentsClient
    # The assets service's CredentialsService (masked credentials, SPEC A5), on the assets channel.
    credentials: CredentialsClient

    @classmethod
    def open(cls, settings: Settings) -> Backends:
        """One channel per backend for the life of the process; must run inside the event loop."""
        channels = {name: open_channel(settings.backend_address(name)) for name in BACKENDS}
        t = settings.backend_timeout_seconds
        return cls(
            channels=channels,
            identity=IdentityClient(channels["identity"], t, signin_timeout=settings.signin_timeout_seconds),
            tickets=TicketsClient(channels["tickets"], t),
            billing=BillingClient(channels["billing"], t),
            assets=AssetsClient(channels["assets"], t),
            remote=RemoteClient(channels["remote"], t),
            knowledge=KnowledgeClient(channels["tickets"], t),
            portal_controls=PortalControlsClient(channels["identity"], t),
            documents=DocumentsClient(channels["assets"], t),
            credentials=CredentialsClient(channels["assets"], t),
        )

    async def close(self) -> None:
        await asyncio.gather(*(ch.close(grace=1.0) for ch in self.channels.values()), return_exceptions=True)

    async def health(self, deadline: float = 1.0) -> dict[str, str]:
        """Each backend's answer to the standard gRPC health check ("" = the whole server)."""

        async def check(channel: grpc.aio.Channel) -> str:
            try:
                resp = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=deadline
                )
            except grpc.aio.AioRpcError as err:
                return err.code().name
            return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

        names = list(self.channels)
        results = await asyncio.gather(*(check(self.channels[n]) for n in names))
        return dict(zip(names, results, strict=True))


__all__ = ["Backends"]
