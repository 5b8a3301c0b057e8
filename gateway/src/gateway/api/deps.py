"""What JSON routes depend on: the bearer session's principal (portal or staff) and the backend clients."""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import Depends, FastAPI, Header, HTTPException, Request, status
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.clients import Backends
from gateway.edge.errors import problem_sign_in_busy, problem_unauthenticated
from gateway.edge.sessions import PrincipalCache, Session
from servicekit.principal import KIND_STAFF

# A retried create with the same key answers the first request's record instead of making a second one.
# A sign-in retried after a 503 "sign-in busy" with the same key counts a wrong password once towards the lock-out.
SignInAttemptKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9_-]{16,64}$",
        description="Send the same key again when retrying after a 503 sign-in-busy answer.",
    ),
]
TicketIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat the same key to get the first request's ticket instead of a second one.",
    ),
]

# The same for an upload: a retry with the key answers the first upload's file, which is not stored twice.
UploadIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat the same key to get the first upload's attachment instead of storing the file again.",
    ),
]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="session",
    description="The `session_token` from `POST /api/v1/sessions`.",
)


class ApiUnauthenticated(Exception):
    """No usable bearer session; answered with a 401 problem."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ApiSignInBusy(Exception):
    """identity's password-hashing queue is over its bound: a 503 problem with Retry-After, nothing counted."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


# Async although they never wait: FastAPI runs a plain `def` dependency in a worker thread, and under load each such
# hop costs the request several turns of a busy event loop (measured: a new ticket's p50 at 64 connections halved).
async def get_backends(request: Request) -> Backends:
    return request.app.state.backends


async def get_sessions(request: Request) -> PrincipalCache:
    return request.app.state.sessions


async def current_session(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Session:
    if credentials is None or not credentials.credentials:
        raise ApiUnauthenticated("send the session token as `Authorization: Bearer <session_token>`")
    try:
        return await request.app.state.sessions.resolve(credentials.credentials)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiUnauthenticated("the session is invalid or has expired; sign in again") from None
        raise


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    if credentials is None or not credentials.credentials:
        raise ApiUnauthenticated("send the session token as `Authorization: Bearer <session_token>`")
    return credentials.credentials


async def staff_api_session(session: Annotated[Session, Depends(current_session)]) -> Session:
    """Staff sign in with `POST /api/v1/staff/sessions`; a portal session gets 403. Identity enforces the same rule
    itself (PERMISSION_DENIED for any non-staff principal)."""
    if session.principal.kind != KIND_STAFF:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only staff sessions may use the staff API")
    return session


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiUnauthenticated)
    async def api_unauthenticated(request: Request, exc: ApiUnauthenticated) -> Response:
        return problem_unauthenticated(exc.detail).response()

    @app.exception_handler(ApiSignInBusy)
    async def api_sign_in_busy(request: Request, exc: ApiSignInBusy) -> Response:
        return problem_sign_in_busy(exc.retry_after).response()


CurrentSession = Annotated[Session, Depends(current_session)]
StaffApiSession = Annotated[Session, Depends(staff_api_session)]
BearerToken = Annotated[str, Depends(bearer_token)]
Clients = Annotated[Backends, Depends(get_backends)]
Sessions = Annotated[PrincipalCache, Depends(get_sessions)]
