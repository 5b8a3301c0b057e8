"""Signing in and out, once for every audience: the portal and staff sign-in pages, the JSON session API and the
staff JSON sign-in all go through sign_in(); each only words the answer its own way (a page, a cookie, JSON)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import grpc
from fastapi import Request

from gateway.clients import Backends
from gateway.clients.identity import STEP_DONE, STEP_MFA_CODE, STEP_MFA_ENROL, SignInOutcome
from gateway.edge.idempotency import IDEMPOTENCY_KEY
from gateway.edge.sessions import PrincipalCache

log = logging.getLogger(__name__)

# Longer than identity ever stores: such a login or password cannot match, so it is not sent.
LOGIN_MAX = 320
PASSWORD_MAX = 1024
# Where a page sends a browser whose sign-in still needs a step (SPEC P4).
_STEP_PAGES = {STEP_MFA_CODE: "/mfa", STEP_MFA_ENROL: "/mfa/enrol"}
# identity's answers that mean "these credentials do not sign in": the API's 401 (the pages word each one).
WRONG_CREDENTIALS = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND)


@dataclass(frozen=True)
class SignedIn:
    session_token: str
    expires_at: datetime | None
    next_step: str

    def cookie_max_age(self) -> int | None:
        """Seconds the session cookie should live: as long as the session, or a browser session if unknown."""
        if self.expires_at is None:
            return None
        return max(0, int((self.expires_at - datetime.now(UTC)).total_seconds()))

    def page_after(self, next_path: str, *, prefix: str = "") -> str:
        """Where a page goes next: the destination, or first the second-factor step it still owes (under `prefix`,
        "/staff" for the staff console)."""
        step = _STEP_PAGES.get(self.next_step)
        return f"{prefix}{step}?next={quote(next_path, safe='/')}" if step else next_path


class TooLong(ValueError):
    """The login or the password is longer than any identity accepts."""


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


async def sign_in(
    backends: Backends, request: Request, *, login: str, password: str, audience: int, attempt_id: str = ""
) -> SignedIn:
    """identity's SignIn for this caller. gRPC errors and SignInBusy propagate: each audience words them itself.
    A retry of the same attempt (same `attempt_id`) counts a wrong password once towards the lock-out."""
    if len(login) > LOGIN_MAX or len(password) > PASSWORD_MAX:
        raise TooLong()
    if attempt_id and not IDEMPOTENCY_KEY.match(attempt_id):
        attempt_id = ""
    result: SignInOutcome = await backends.identity.sign_in(
        login=login,
        password=password,
        audience=audience,
        client_address=client_address(request),
        attempt_id=attempt_id,
    )
    return SignedIn(result.session_token, result.expires_at, result.next_step or STEP_DONE)


async def sign_out(backends: Backends, sessions: PrincipalCache, token: str) -> None:
    """Forget the cached principal at once, then end the session at identity (which may fail: the caller decides)."""
    sessions.drop(token)
    await backends.identity.sign_out(token)


async def sign_out_quietly(backends: Backends, sessions: PrincipalCache, token: str) -> None:
    """For pages: the cookie goes regardless; an identity outage must not keep the browser signed in locally."""
    try:
        await sign_out(backends, sessions, token)
    except grpc.aio.AioRpcError as err:
        log.warning("sign-out not confirmed by identity", extra={"code": err.code().name})
