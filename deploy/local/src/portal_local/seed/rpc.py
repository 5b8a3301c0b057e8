"""The gRPC plumbing every part of the demo seed uses: a channel, a call that turns a failure into a SeedError
naming the step, and signing in and out through identity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from portal.identity.v1 import identity_pb2, identity_pb2_grpc

DEADLINE_SECONDS = 10.0


class SeedError(RuntimeError):
    pass


Resp = TypeVar("Resp", bound=Message)


def call(rpc: Callable[..., Resp], request: Message, name: str, token: str | None = None) -> Resp:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    try:
        return rpc(request, timeout=DEADLINE_SECONDS, metadata=metadata)
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        raise SeedError(f"seeding failed at {name}: {code.name if code else 'error'}: {details}") from exc


@contextmanager
def channel(addr: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(addr, options=[("grpc.enable_http_proxy", 0)]) as opened:
        yield opened


def sign_in(
    identity: identity_pb2_grpc.IdentityServiceStub, login: str, password: str, audience: int
) -> tuple[str, str]:
    """The session token and a principal token for it."""
    signed_in = call(
        identity.SignIn,
        identity_pb2.SignInRequest(login=login, password=password, audience=audience, client_address="127.0.0.1"),
        f"SignIn({login})",
    )
    resolved = call(
        identity.ResolveSession,
        identity_pb2.ResolveSessionRequest(session_token=signed_in.session_token),
        f"ResolveSession({login})",
    )
    return signed_in.session_token, resolved.principal_token


def sign_out(identity: identity_pb2_grpc.IdentityServiceStub, session_token: str) -> None:
    call(identity.SignOut, identity_pb2.SignOutRequest(session_token=session_token), "SignOut")
