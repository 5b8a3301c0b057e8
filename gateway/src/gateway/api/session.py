"""Sessions in the JSON API: sign in (`POST /api/v1/sessions`), the second factor, sign out, and who the session
belongs to (`GET /api/v1/me`). Every other call sends the token as `Authorization: Bearer <session token>`."""

from __future__ import annotations

import grpc
from fastapi import APIRouter, Request, Response, status

from gateway.api.deps import (
    ApiSignInBusy,
    ApiUnauthenticated,
    BearerToken,
    Clients,
    CurrentSession,
    Sessions,
    SignInAttemptKey,
)
from gateway.api.docs import problems
from gateway.api.schemas import (
    Me,
    MfaCodeBody,
    MfaEnrolled,
    MfaEnrolmentStarted,
    MfaVerified,
    MyLanguage,
    SessionCreated,
    SignInBody,
)
from gateway.areas import session as areas_session
from gateway.areas.session import SignedIn, client_address
from gateway.clients import Backends
from gateway.clients.identity import AUDIENCE_PORTAL, SignInBusy

router = APIRouter(prefix="/api/v1", responses=problems(400, 401, 413, 503))


@router.post("/sessions", status_code=status.HTTP_201_CREATED, responses=problems(429), tags=["sessions"])
async def create_session(
    body: SignInBody, request: Request, backends: Clients, attempt: SignInAttemptKey = None
) -> SessionCreated:
    """Sign in with a portal login and password; the answer's token authenticates the other calls. When many
    people sign in at once the answer may be a 503 `sign-in-busy` problem with `Retry-After`: retry then."""
    result = await api_sign_in(request, backends, body, audience=AUDIENCE_PORTAL, attempt_id=attempt or "")
    return SessionCreated(session_token=result.session_token, expires_at=result.expires_at, next_step=result.next_step)


async def api_sign_in(
    request: Request, backends: Backends, body: SignInBody, *, audience: int, attempt_id: str = ""
) -> SignedIn:
    """The one sign-in flow, worded for JSON: credentials that do not sign in are a 401 problem, a full hashing
    queue a 503 `sign-in-busy` problem with Retry-After."""
    try:
        return await areas_session.sign_in(
            backends, request, login=body.login, password=body.password, audience=audience, attempt_id=attempt_id
        )
    except SignInBusy as busy:
        raise ApiSignInBusy(busy.retry_after) from None
    except grpc.aio.AioRpcError as err:
        if err.code() in areas_session.WRONG_CREDENTIALS:
            raise ApiUnauthenticated("the login and password do not match") from None
        raise


def _not_pending(err: grpc.aio.AioRpcError) -> None:
    """A session that is not (or no longer) waiting for this step: sign in again."""
    if err.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION):
        raise ApiUnauthenticated("this session is not waiting for this step of signing in; sign in again") from None


@router.post("/sessions/current/mfa", responses=problems(429), tags=["sessions"])
async def verify_mfa(body: MfaCodeBody, token: BearerToken, request: Request, backends: Clients) -> MfaVerified:
    """The second step of signing in (`next_step` = `mfa_code`): a code from the authenticator app, or a recovery
    code. A code works once; a wrong one is a 400 and counts towards the account's lock-out."""
    try:
        left = await backends.identity.verify_mfa_code(token, code=body.code, client_address=client_address(request))
    except grpc.aio.AioRpcError as err:
        _not_pending(err)
        raise
    return MfaVerified(recovery_codes_left=left)


@router.post("/sessions/current/mfa/enrolment", tags=["sessions"])
async def begin_mfa_enrolment(token: BearerToken, backends: Clients) -> MfaEnrolmentStarted:
    """`next_step` = `mfa_enrol`: a new authenticator secret for this account, shown once."""
    try:
        enrolment = await backends.identity.begin_mfa_enrolment(token)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            _not_pending(err)
        raise  # FAILED_PRECONDITION: already enrolled (409): send a code to /sessions/current/mfa
    return MfaEnrolmentStarted(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/sessions/current/mfa/enrolment/confirm", tags=["sessions"])
async def confirm_mfa_enrolment(
    body: MfaCodeBody, token: BearerToken, request: Request, backends: Clients
) -> MfaEnrolled:
    """Finish enrolment with the app's current code; the answer's recovery codes are shown this once, and the
    session then works for every call."""
    try:
        codes = await backends.identity.confirm_mfa_enrolment(
            token, code=body.code, client_address=client_address(request)
        )
    except grpc.aio.AioRpcError as err:
        _not_pending(err)
        raise
    return MfaEnrolled(recovery_codes=codes)


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT, tags=["sessions"])
async def delete_session(token: BearerToken, backends: Clients, sessions: Sessions) -> Response:
    """Sign out: the session token stops working."""
    await areas_session.sign_out(backends, sessions, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", tags=["sessions"])
async def me(session: CurrentSession) -> Me:
    """Who the session belongs to and what the user's group allows."""
    p = session.principal
    return Me(
        kind=p.kind,
        subject_id=p.subject_id,
        customer_id=p.customer_id,
        contact_id=p.contact_id,
        customer_name=session.customer_name,
        display_name=p.display_name,
        email=p.email,
        permissions=sorted(p.permissions),
        language=session.language,
    )


@router.put("/me/language", tags=["sessions"])
async def set_my_language(
    body: MyLanguage, session: CurrentSession, backends: Clients, sessions: Sessions, token: BearerToken
) -> MyLanguage:
    """The language kept on the user (SPEC H5): its pages, emails and PDFs; "" follows the browser again."""
    language = await backends.identity.set_my_language(session.principal_token, body.language)
    sessions.drop(token)  # the next call reads the new language
    return MyLanguage(language=language)
