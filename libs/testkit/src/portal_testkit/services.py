"""What every service's tests need to call the service as the gateway does: principal keys and tokens, builders of
the callers, and the servicer exactly as its main.wire registers it, on a real localhost gRPC socket.

    keys = Keys.generate()
    async with serve_wired(wire, db, keys.verifier, name=NAME) as served:
        stub = tickets_pb2_grpc.TicketsServiceStub(served.channel)
        await stub.ListTickets(req, metadata=keys.metadata(Principals.staff()))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.app import Runtime, Wiring
from servicekit.db import Database
from servicekit.grpc_client import open_channel
from servicekit.grpc_server import GrpcServer, start_grpc_server
from servicekit.metrics import kit_metrics
from servicekit.principal import (
    KIND_PORTAL_USER,
    KIND_STAFF,
    ROLE_ADMIN,
    ROLE_TECHNICIAN,
    Principal,
    TokenSigner,
    TokenVerifier,
)
from servicekit.settings import ServiceSettings


@dataclass(frozen=True)
class Keys:
    """A principal-signing key pair, as identity holds it, and the tokens it signs."""

    private_key: Ed25519PrivateKey
    signer: TokenSigner
    verifier: TokenVerifier
    public_pem: bytes

    @classmethod
    def generate(cls) -> Keys:
        private = Ed25519PrivateKey.generate()
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, TokenSigner(private), TokenVerifier([private.public_key()]), public_pem)

    def token(self, principal: Principal) -> str:
        """A principal token as identity would sign it."""
        return self.signer.sign(principal)[0]

    def metadata(self, principal: Principal) -> tuple[tuple[str, str], ...]:
        """The call metadata carrying `principal`'s token."""
        return (("authorization", f"Bearer {self.token(principal)}"),)

    def write_public_key(self, directory: Path) -> Path:
        """The public key as a PEM file, for a service's PRINCIPAL_PUBLIC_KEY_FILE setting."""
        path = directory / "principal.pub.pem"
        path.write_bytes(self.public_pem)
        return path


class Principals:
    """Builders of the callers tests use."""

    @staticmethod
    def portal(
        customer_id: str,
        contact_id: str = "",
        *,
        permissions: set[str] | frozenset[str] = frozenset(),
        subject_id: str = "",
        customer_ids: tuple[str, ...] = (),
        **fields: object,
    ) -> Principal:
        """A portal user of `customer_id` (as contact `contact_id`, when given) with `permissions`."""
        return Principal(
            kind=KIND_PORTAL_USER,
            subject_id=subject_id or f"user-{contact_id or customer_id}",
            customer_id=customer_id,
            contact_id=contact_id,
            permissions=frozenset(permissions),
            customer_ids=customer_ids,
            **fields,  # type: ignore[arg-type]
        )

    @staticmethod
    def staff(subject_id: str = "staff-1", **fields: object) -> Principal:
        """An admin staff member (pass staff_role= for another role)."""
        fields.setdefault("staff_role", ROLE_ADMIN)
        return Principal(kind=KIND_STAFF, subject_id=subject_id, **fields)  # type: ignore[arg-type]

    @staticmethod
    def technician(subject_id: str = "tech-1", **fields: object) -> Principal:
        """A technician: works tickets and sees customers, refused the admin-only operations."""
        return Principal(kind=KIND_STAFF, subject_id=subject_id, staff_role=ROLE_TECHNICIAN, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Served:
    """A servicer on a localhost socket and a channel to it; build the stubs you need on `channel`."""

    channel: grpc.aio.Channel
    server: GrpcServer

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@asynccontextmanager
async def serve_wired(
    wire: Callable[[Runtime], Wiring],
    db: Database,
    verifier: TokenVerifier,
    *,
    name: str,
    settings: ServiceSettings | None = None,
) -> AsyncIterator[Served]:
    """Serve what `wire` registers (a service's main.wire) over `db` on a free localhost port, behind the same
    interceptor as in production (principal tokens checked with `verifier`, unless the wiring brings its own);
    no NATS, so consumers and background tasks do not run."""
    metrics = kit_metrics(name)
    wiring = wire(Runtime(name=name, settings=settings, db=db, nats=None, metrics=metrics))  # type: ignore[arg-type]
    server = await start_grpc_server(
        address="127.0.0.1:0",
        register=wiring.register,
        service_names=wiring.service_names,
        verifier=wiring.verifier or verifier,
        public_methods=wiring.public_methods,
        metrics=metrics,
    )
    channel = open_channel(f"127.0.0.1:{server.port}")
    try:
        yield Served(channel, server)
    finally:
        await channel.close()
        await server.stop(0)
