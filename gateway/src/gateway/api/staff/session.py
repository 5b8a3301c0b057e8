"""Staff sign-in for the staff JSON API: `POST /api/v1/staff/sessions`; send the answer's token as the bearer."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from gateway.api.deps import Clients, SignInAttemptKey
from gateway.api.docs import problems
from gateway.api.schemas import SessionCreated, SignInBody
from gateway.api.session import api_sign_in
from gateway.clients.identity import AUDIENCE_STAFF

router = APIRouter(
    prefix="/api/v1/staff",
    tags=["staff: identity"],
    responses=problems(400, 401, 403, 404, 409, 503),
)


@router.post("/sessions", status_code=status.HTTP_201_CREATED)
async def create_staff_session(
    body: SignInBody, request: Request, backends: Clients, attempt: SignInAttemptKey = None
) -> SessionCreated:
    """Staff sign-in; the answer's token authenticates the staff API. A staff member with MFA (and an admin without
    it, where the deployment requires MFA for admins) gets `next_step` `mfa_code` or `mfa_enrol`: finish it with
    the same `/api/v1/sessions/current/mfa…` calls as a portal user, with this token as the bearer."""
    result = await api_sign_in(request, backends, body, audience=AUDIENCE_STAFF, attempt_id=attempt or "")
    return SessionCreated(session_token=result.session_token, expires_at=result.expires_at, next_step=result.next_step)
