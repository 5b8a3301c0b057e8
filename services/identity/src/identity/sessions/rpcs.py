"""Signing in and out, and resolving a session to a principal token: proto ⇄ domain only."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from identity.languages import service as languages
from identity.mfa import service as mfa
from identity.portal_controls.support_window import renewal_notice_ends_on
from identity.rpcs import Rpcs
from identity.sessions import service as sessions
from identity.sessions.protos import AUDIENCES, NEXT_STEP
from identity.users.hashing import RETRY_AFTER, Busy
from portal.identity.v1 import identity_pb2
from servicekit.protos import timestamp


class SessionRpcs(Rpcs):
    async def SignIn(self, request: identity_pb2.SignInRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        if self._ready is not None and not self._ready.is_set():
            await asyncio.wait_for(self._ready.wait(), timeout=30)
        try:
            opened = await sessions.sign_in(
                self.db,
                login=request.login,
                password=request.password,
                audience=AUDIENCES.get(request.audience, ""),
                client_address=request.client_address,
                policy=self.policy,
                attempt_id=request.attempt_id,
            )
        except Busy as busy:
            # The hashing queue is full: say when to come back (the gateway's Retry-After), refused at once.
            context.set_trailing_metadata(((RETRY_AFTER, str(busy.retry_after)),))
            raise
        return identity_pb2.SignInResponse(
            session_token=opened.token,
            expires_at=timestamp(opened.session.expires_at),
            principal=opened.principal.to_proto(),
            next_step=NEXT_STEP[opened.pending],
        )

    async def ResolveSession(self, request: identity_pb2.ResolveSessionRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            session, principal = await sessions.resolve_session(s, token=request.session_token, policy=self.policy)
            renewal = await renewal_notice_ends_on(s, principal)
            has_mfa = await mfa.mfa_enabled(s, session)
            language = await languages.language_of_principal(s, principal)
            not_after = await sessions.principal_not_after(s, session, self.policy)
        token, expires = self.tokens.sign(principal, not_after=not_after)
        return identity_pb2.ResolveSessionResponse(
            principal=principal.to_proto(),
            principal_token=token,
            token_expires_at=Timestamp(seconds=expires),
            renewal_notice_ends_on=renewal,
            mfa_enabled=has_mfa,
            language=language,
        )

    async def SignOut(self, request: identity_pb2.SignOutRequest, context):  # noqa: N802, ANN001
        async with self.db.unit_of_work() as s:
            await sessions.sign_out(s, token=request.session_token)
        return identity_pb2.SignOutResponse()
