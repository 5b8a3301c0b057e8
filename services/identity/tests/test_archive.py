"""Archive and re-enable a customer (SPEC C5): its portal users' sessions end and they cannot sign in until
staff re-enable it."""

from __future__ import annotations

import grpc

from portal.identity.v1 import identity_pb2
from servicekit.principal import bearer_metadata

PORTAL = identity_pb2.AUDIENCE_PORTAL


async def code_of(call) -> grpc.StatusCode:  # noqa: ANN001
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_archive_ends_sessions_and_refuses_sign_in_until_re_enabled(stub, world, passwords):
    staff = await stub.SignIn(
        identity_pb2.SignInRequest(
            login="admin@example.test", password=passwords["staff"], audience=identity_pb2.AUDIENCE_STAFF
        )
    )
    md = bearer_metadata(
        (
            await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=staff.session_token))
        ).principal_token
    )
    alice_in = identity_pb2.SignInRequest(login="alice@acme.test", password=passwords["alice"], audience=PORTAL)
    before = await stub.SignIn(alice_in)

    archived = await stub.SetCustomerArchived(
        identity_pb2.SetCustomerArchivedRequest(customer_id=world.customer_a, archived=True), metadata=md
    )
    assert archived.customer.archived
    resolve = identity_pb2.ResolveSessionRequest(session_token=before.session_token)
    assert await code_of(stub.ResolveSession(resolve)) == grpc.StatusCode.UNAUTHENTICATED
    assert await code_of(stub.SignIn(alice_in)) == grpc.StatusCode.PERMISSION_DENIED
    # A wrong password still answers as a wrong password: archiving reveals nothing to a guesser.
    wrong = identity_pb2.SignInRequest(login="alice@acme.test", password="not-the-password", audience=PORTAL)
    assert await code_of(stub.SignIn(wrong)) == grpc.StatusCode.UNAUTHENTICATED
    # Customer B is untouched.
    await stub.SignIn(identity_pb2.SignInRequest(login="bob.blue", password=passwords["bob"], audience=PORTAL))

    restored = await stub.SetCustomerArchived(
        identity_pb2.SetCustomerArchivedRequest(customer_id=world.customer_a, archived=False), metadata=md
    )
    assert not restored.customer.archived
    await stub.SignIn(alice_in)

    missing = identity_pb2.SetCustomerArchivedRequest(customer_id="nope", archived=True)
    assert await code_of(stub.SetCustomerArchived(missing, metadata=md)) == grpc.StatusCode.NOT_FOUND
    alice = await stub.SignIn(alice_in)
    alice_md = bearer_metadata(
        (
            await stub.ResolveSession(identity_pb2.ResolveSessionRequest(session_token=alice.session_token))
        ).principal_token
    )
    own = identity_pb2.SetCustomerArchivedRequest(customer_id=world.customer_a, archived=True)
    assert await code_of(stub.SetCustomerArchived(own, metadata=alice_md)) == grpc.StatusCode.PERMISSION_DENIED
