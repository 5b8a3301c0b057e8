"""No password, password hash, session token or principal token ever reaches the logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import grpc
import pytest
import sqlalchemy as sa

from identity.sessions.models import UserSession
from identity.users.models import PortalUser, StaffUser
from portal.identity.v1 import identity_pb2
from servicekit.db import Database
from servicekit.logs import setup_logging
from servicekit.principal import bearer_metadata


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """The service's real log setup (JSON lines, at DEBUG), written to a buffer instead of stdout."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    setup_logging("identity", "DEBUG")
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


async def test_no_secret_in_the_logs(
    stub, db: Database, world, passwords, service_logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger().addHandler(caplog.handler)
    secrets: list[str] = []

    def sign_in(login: str, password: str, audience: int = identity_pb2.AUDIENCE_PORTAL):  # noqa: ANN202
        secrets.append(password)
        return stub.SignIn(identity_pb2.SignInRequest(login=login, password=password, audience=audience))

    staff = await sign_in("admin@example.test", passwords["staff"], identity_pb2.AUDIENCE_STAFF)
    staff_token = (
        await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=staff.session_token))
    ).principal_token
    md = bearer_metadata(staff_token)
    new_password = "carols-new-secret-42"
    secrets.append(new_password)
    await stub.CreatePortalUser(
        identity_pb2.CreatePortalUserRequest(
            customer_id=world.customer_a, email="carol@acme.test", password=new_password
        ),
        metadata=md,
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.CreatePortalUser(
            identity_pb2.CreatePortalUserRequest(
                customer_id=world.customer_a, email="dave@acme.test", password="short-pw"
            ),
            metadata=md,
        )
    secrets.append("short-pw")
    alice = await sign_in("alice@acme.test", passwords["alice"])
    with pytest.raises(grpc.aio.AioRpcError):
        await sign_in("alice@acme.test", "a-wrong-password-guess")
    with pytest.raises(grpc.aio.AioRpcError):
        await sign_in("nobody@acme.test", "another-wrong-guess")
    resolved = await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=alice.session_token))
    await stub.SignOut(identity_pb2.SignOutRequest(session_token=alice.session_token))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=alice.session_token))

    secrets += [staff.session_token, alice.session_token, staff_token, resolved.principal_token]
    async with db.unit_of_work() as s:
        secrets += [h for h in (await s.scalars(sa.select(PortalUser.password_hash))).all() if h]
        secrets += [h for h in (await s.scalars(sa.select(StaffUser.password_hash))).all() if h]
        secrets += list((await s.scalars(sa.select(UserSession.token_hash))).all())

    logged = service_logs.getvalue() + "\n".join(r.getMessage() for r in caplog.records)
    assert "sign-in failed" in logged and "sign-in of" in logged  # the capture works
    for secret in secrets:
        assert secret not in logged
        # A hash's salt and digest are secrets too, whichever piece of it would leak.
        for part in secret.split("$"):
            if len(part) >= 16:
                assert part not in logged
