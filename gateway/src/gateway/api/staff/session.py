"""Staff sign-in for the staff JSON API: `POST /api/v1/staff/sessions`; send the answer's token as the bearer."""

from __future__ import annotations

import grpc
from fastapi import APIRouter, Request, status

from gateway.api.deps import ApiUnauthenticated, Clients
from gateway.api.docs import problems
from gateway.api.schemas import SessionCreated, SignInBody
from gateway.clients.identity import AUDIENCE_STAFF

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: identity"],
    responses=problems(400, 401, 403, 404, 409, 503),
)


@router.post("/sessions", status_code=status.HTTP_201_CREATED)
async def create_staff_session(body: SignInBody, request: Request, backends: Clients) -> SessionCreated:
    """Staff sign-in; the answer's token authenticates the staff API."""
    try:
        result = await backends.identity.sign_in(
            login=body.login,
            password=body.password,
            audience=AUDIENCE_STAFF,
            client_address=request.client.host if request.client else "",
        )
    except grpc.aio.AioRpcError as err:
        if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND):
            raise ApiUnauthenticated("the login and password do not match") from None
        raise
    return SessionCreated(session_token=result.session_token, expires_at=result.expires_at)
